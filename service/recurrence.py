"""Previewing a recurrence rule before any task uses it: RRULE or plain phrase in, the
normalised RRULE, a summary, the next dates and the surprises out. Pure: no storage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

from domain.errors import FieldError, ValidationFailed
from domain.phrases import PHRASE_FIELD, parse_phrase
from domain.recurrence import (
    RRULE_FIELD,
    Rule,
    parse_rule,
    preview,
    summarize,
    warnings,
)
from domain.zones import to_utc
from service.schemas import RecurrencePreview
from service.task_views import local_wall_clock, zone

DEFAULT_TIME = time(9, 0)
_EPSILON = timedelta(microseconds=1)


def preview_recurrence(
    rule: str,
    start: datetime | None,
    timezone: str,
    count: int,
    today: date,
) -> RecurrencePreview:
    """`rule` is an RRULE value ("FREQ=WEEKLY;BYDAY=MO") or a phrase ("every weekday at 9am").

    `start` is DTSTART: with an offset it is an instant, without one wall clock in `timezone`.
    A phrase's time of day replaces the start's. Without a start, the series starts at the
    rule's first date on or after `today` (at the phrase's time, else 09:00).
    """
    zone(timezone)
    text = rule.strip()
    is_rrule = "=" in text
    time_of_day = None
    if is_rrule:
        rrule = text.removeprefix("RRULE:").removeprefix("rrule:")
    else:
        with _as_rule_field():
            phrase = parse_phrase(text, today=today)
        rrule, time_of_day = phrase.rrule, phrase.time_of_day
    if start is not None:
        local = local_wall_clock(start, timezone) if start.tzinfo else start
        if time_of_day is not None:
            local = datetime.combine(local.date(), time_of_day)
    else:
        local = _first_on_or_after(rrule, today, time_of_day or DEFAULT_TIME, timezone)
    parsed = _parse(rrule, local, timezone)
    tz = zone(timezone)
    return RecurrencePreview(
        rrule=parsed.rrule,
        parsed_from="rrule" if is_rrule else "phrase",
        summary=summarize(parsed),
        timezone=timezone,
        start=to_utc(parsed.dtstart, timezone).astimezone(tz),
        occurrences=[o.due_at.astimezone(tz) for o in preview(parsed, count)],
        warnings=warnings(parsed),
    )


@contextmanager
def _as_rule_field() -> Iterator[None]:
    """The caller passed `rule`, not a task's `recurrence.rrule` or a `phrase`."""
    try:
        yield
    except ValidationFailed as exc:
        renamed = {RRULE_FIELD: "rule", PHRASE_FIELD: "rule"}
        raise ValidationFailed(
            [FieldError(renamed.get(e.field, e.field), e.message) for e in exc.errors]
        ) from exc


def _parse(rrule: str, local: datetime, timezone: str) -> Rule:
    with _as_rule_field():
        return parse_rule(rrule, local, timezone)


def _first_on_or_after(rrule: str, today: date, at: time, timezone: str) -> datetime:
    """The first date the pattern itself matches from `today`: a DTSTART that does not match
    the rule would still be occurrence 0 (RFC 5545), which is not what "from today" means.
    The probe starts the day before, at the same time, so BYHOUR/BYMINUTE defaults agree."""
    wanted = datetime.combine(today, at)
    probe = _parse(rrule, wanted - timedelta(days=1), timezone)
    found = preview(probe, 1, after=to_utc(wanted, timezone) - _EPSILON)
    return found[0].local if found else wanted
