"""Turning request values into a checked, normalised Rule."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from dateutil.rrule import DAILY, HOURLY, MONTHLY, YEARLY
from dateutil.rrule import weekday as nth_weekday

from domain.errors import ValidationFailed
from domain.recurrence.iteration import _rrule_kwargs, _walk, _wall_clock, first_occurrence
from domain.recurrence.rules import (
    _UNITS,
    CatchUp,
    RecurrenceMode,
    Rule,
    _fail,
    _join,
    _parse_parts,
    _Parts,
)
from domain.zones import load_zone


def parse_rule(
    rrule: str,
    dtstart: datetime,
    timezone: str,
    *,
    mode: RecurrenceMode | str = RecurrenceMode.SCHEDULE,
    catch_up: CatchUp | str = CatchUp.SKIP_MISSED,
    exdates: Iterable[datetime] = (),
) -> Rule:
    """Validate and normalise a rule. Raises ValidationFailed naming the offending field."""
    zone = load_zone(timezone)
    parts = _parse_parts(rrule)
    try:
        mode = RecurrenceMode(mode)
    except ValueError:
        raise ValidationFailed.field(
            "recurrence.mode", f"must be one of {', '.join(RecurrenceMode)}"
        ) from None
    try:
        catch_up = CatchUp(catch_up)
    except ValueError:
        raise ValidationFailed.field(
            "recurrence.catch_up", f"must be one of {', '.join(CatchUp)}"
        ) from None
    start = _wall_clock(dtstart, zone)
    rule = Rule(
        rrule=parts.text(),
        timezone=timezone,
        dtstart=start,
        mode=mode,
        catch_up=catch_up,
        exdates=frozenset(_wall_clock(x, zone) for x in exdates),
    )
    _check_has_instances(parts, start)
    first_occurrence(rule)
    return rule


def _check_has_instances(parts: _Parts, start: datetime) -> None:
    """Reject a rule that never matches (ignoring COUNT/UNTIL), e.g. BYMONTH=2;BYMONTHDAY=30.

    Cheap static and YEARLY-level checks go first: a fine-grained rule that never matches
    would otherwise be searched minute by minute for centuries."""
    if not _some_date_matches(parts, start.year):
        raise _fail(f"{parts.by_text()} never matches a date, so the rule has no occurrences")
    if parts.bysetpos and parts.freq >= DAILY:
        kw = _rrule_kwargs(parts, start)
        per_period = len(kw["bysecond"])  # type: ignore[arg-type]
        if parts.freq <= HOURLY:
            per_period *= len(kw["byminute"])  # type: ignore[arg-type]
        if parts.freq == DAILY:
            per_period *= len(kw["byhour"])  # type: ignore[arg-type]
        if all(abs(pos) > per_period for pos in parts.bysetpos):
            raise _fail(
                f"BYSETPOS={_join(parts.bysetpos)} selects nothing: each "
                f"{_UNITS[parts.freq]} has only {per_period} instance(s)"
            )
    try:
        found = next(_walk(_rrule_kwargs(parts, start), start, None), None)
    except ValueError as exc:  # dateutil: BYHOUR/BYMINUTE unreachable with this INTERVAL
        raise _fail(
            f"{parts.by_text()} can never be reached with INTERVAL={parts.interval} "
            f"from DTSTART's time {start:%H:%M} ({exc})"
        ) from None
    if found is None:
        raise _fail(
            f"{parts.text()} never produces an occurrence after DTSTART {start:%Y-%m-%d %H:%M}"
        )


def _some_date_matches(p: _Parts, year: int) -> bool:
    """Whether any date passes the BY* date filters, searched as a YEARLY rule."""
    if not (p.bymonth or p.byweekno or p.byyearday or p.bymonthday or p.byday):
        return True
    months = p.bymonth
    if not months and p.freq == MONTHLY:
        months = tuple(range(1, 13))  # numbered weekdays then count within each month
    kwargs: dict[str, object] = {
        "freq": YEARLY,
        "wkst": p.wkst if p.wkst is not None else 0,
        "bymonth": months or None,
        "byweekno": p.byweekno or None,
        "byyearday": p.byyearday or None,
        "bymonthday": p.bymonthday or None,
        "byweekday": tuple(nth_weekday(wd, n or None) for n, wd in p.byday) or None,
        "byhour": 0,
        "byminute": 0,
        "bysecond": 0,
    }
    return next(_walk(kwargs, datetime(year, 1, 1), None), None) is not None
