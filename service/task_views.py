"""Turning stored rows into the public task shape, and request values into stored ones."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from domain.recurrence import Rule, parse_rule, summarize
from domain.tasks import Priority
from domain.zones import load_zone, to_utc
from service.schemas import RecurrenceOut, ReminderOut, TaskPublic


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone `name`, or ValidationFailed on `field` (the domain's one loader)."""
    return load_zone(name, field)


def as_utc(value: datetime, timezone: str) -> datetime:
    """A request time: with an offset it is an instant; without, wall clock in `timezone`."""
    if value.tzinfo is None:
        zone(timezone)
        return to_utc(value, timezone)
    return value.astimezone(UTC)


def local_wall_clock(instant: datetime, timezone: str) -> datetime:
    return instant.astimezone(zone(timezone)).replace(tzinfo=None)


@lru_cache(maxsize=4096)
def _rule(
    rrule: str,
    dtstart: datetime,
    timezone: str,
    mode: str,
    catch_up: str,
    exdates: tuple[datetime, ...],
) -> Rule:
    return parse_rule(rrule, dtstart, timezone, mode=mode, catch_up=catch_up, exdates=exdates)


def rule_of(row: dict[str, Any]) -> Rule:
    """The series rule of a stored row (rows carry the series columns)."""
    return _rule(
        row["rrule"],
        row["dtstart"],
        row["series_timezone"],
        row["mode"],
        row["catch_up"],
        tuple(row["exdates"] or ()),
    )


@lru_cache(maxsize=4096)
def _summary(rule: Rule) -> str:
    return summarize(rule)


def to_public(row: dict[str, Any]) -> TaskPublic:
    tz = zone(row["timezone"])
    recurrence = None
    if row["series_id"] is not None:
        rule = rule_of(row)
        recurrence = RecurrenceOut(
            rrule=rule.rrule, mode=rule.mode, catch_up=rule.catch_up, summary=_summary(rule)
        )
    reminders = []
    for item in row["reminders"]:
        rid, before, at, fire_at, state = item
        reminders.append(
            ReminderOut(id=rid, before_minutes=before, at=at, fire_at=fire_at, state=state)
        )
    due = row["due_at"]
    return TaskPublic(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        priority=Priority.from_rank(row["priority"]),
        tags=list(row["tags"]),
        status=row["status"],
        due_at=due.astimezone(tz) if due is not None else None,
        timezone=row["timezone"],
        recurrence=recurrence,
        series_id=row["series_id"],
        occurrence_index=row["occurrence_index"],
        reminders=reminders,
        completed_at=row["completed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )
