"""Reminder rules: validation, fire times, dedupe keys and explanations an agent can relay.

A reminder is either relative ("30 minutes before the due time", follows the due time when it
moves and carries over to the next occurrence of a series) or absolute (one fixed instant).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import FieldError, ValidationFailed
from domain.zones import load_zone

MAX_REMINDERS_PER_TASK = 10
MAX_BEFORE_MINUTES = 525_600  # one year


@dataclass(frozen=True)
class ReminderSpec:
    """Exactly one of `before_minutes` (relative to the due time) or `at` (aware instant)."""

    before_minutes: int | None = None
    at: datetime | None = None


def validate_reminders(specs: list[ReminderSpec], *, has_due: bool) -> None:
    """Raise ValidationFailed listing every problem, with fields like reminders.2.at."""
    errors: list[FieldError] = []
    if len(specs) > MAX_REMINDERS_PER_TASK:
        errors.append(
            FieldError(
                "reminders",
                f"at most {MAX_REMINDERS_PER_TASK} reminders per task, got {len(specs)}",
            )
        )
    seen: dict[object, int] = {}
    for i, spec in enumerate(specs):
        error = _spec_error(i, spec, has_due)
        if error is not None:
            errors.append(error)
            continue
        key, name = (
            (("before", spec.before_minutes), "before_minutes")
            if spec.before_minutes is not None
            else (("at", spec.at.astimezone(UTC)), "at")  # type: ignore[union-attr]
        )
        if key in seen:
            errors.append(
                FieldError(f"reminders.{i}.{name}", f"duplicates reminders.{seen[key]}.{name}")
            )
        else:
            seen[key] = i
    if errors:
        raise ValidationFailed(errors)


def _spec_error(i: int, spec: ReminderSpec, has_due: bool) -> FieldError | None:
    relative, absolute = spec.before_minutes is not None, spec.at is not None
    if relative == absolute:
        return FieldError(f"reminders.{i}", "set exactly one of before_minutes or at")
    if relative:
        field = f"reminders.{i}.before_minutes"
        minutes = spec.before_minutes
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            return FieldError(field, "must be a whole number of minutes")
        if not 0 <= minutes <= MAX_BEFORE_MINUTES:
            return FieldError(field, f"must be between 0 and {MAX_BEFORE_MINUTES} (one year)")
        if not has_due:
            return FieldError(field, "a relative reminder needs a due time; set due_at or use at")
        return None
    if spec.at.tzinfo is None or spec.at.utcoffset() is None:  # type: ignore[union-attr]
        return FieldError(f"reminders.{i}.at", "must include a UTC offset, e.g. 2027-03-14T09:00Z")
    return None


def fire_time(spec: ReminderSpec, due_at: datetime | None) -> datetime:
    """When the reminder fires, as aware UTC."""
    if spec.at is not None:
        return _utc(spec.at, "reminders.at")
    if spec.before_minutes is None:
        raise ValidationFailed.field("reminders", "set exactly one of before_minutes or at")
    if due_at is None:
        raise ValidationFailed.field(
            "reminders", "a relative reminder needs a due time; set due_at or use at"
        )
    return _utc(due_at, "due_at") - timedelta(minutes=spec.before_minutes)


def _utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed.field(field, "must include a UTC offset")
    return value.astimezone(UTC)


def dedupe_key(reminder_id: str, fire_at: datetime) -> str:
    """Stable key for one firing: the same reminder at the same instant is delivered once,
    whatever offset `fire_at` was written with."""
    utc = _utc(fire_at, "fire_at")
    spec = "microseconds" if utc.microsecond else "seconds"
    return f"{reminder_id}@{utc.replace(tzinfo=None).isoformat(timespec=spec)}Z"


@dataclass(frozen=True)
class ReminderExplanation:
    anchor: str  # "due_at" | "absolute"
    due_at: datetime | None
    offset_minutes: int | None
    timezone: str
    fire_at_utc: datetime
    fire_at_local: datetime  # aware, in `timezone`
    state: str
    why: str


def explain(
    spec: ReminderSpec,
    *,
    due_at: datetime | None,
    timezone: str,
    fire_at: datetime,
    state: str,
) -> ReminderExplanation:
    """Why and when a reminder fires, as data plus one sentence for the agent to relay."""
    zone = load_zone(timezone)
    fire_utc = _utc(fire_at, "fire_at")
    fire_local = fire_utc.astimezone(zone)
    if spec.before_minutes is not None:
        if due_at is None:
            raise ValidationFailed.field(
                "reminders", "a relative reminder needs a due time; set due_at or use at"
            )
        due_utc = _utc(due_at, "due_at")
        due_local = due_utc.astimezone(zone)
        lead = (
            "Fires at the due time"
            if spec.before_minutes == 0
            else f"Fires {_duration(spec.before_minutes)} before the due time"
        )
        why = (
            f"{lead} {due_local:%Y-%m-%d %H:%M} {timezone} ({due_utc:%H:%M} UTC), "
            f"at {_local_and_utc(fire_local, due_local, fire_utc)}"
        )
        computed = due_utc - timedelta(minutes=spec.before_minutes)
        anchor, offset = "due_at", spec.before_minutes
    else:
        computed = fire_time(spec, None)
        why = (
            f"Fires at {fire_local:%Y-%m-%d %H:%M} {timezone} ({fire_utc:%H:%M} UTC), "
            "a fixed time that does not move with the due time"
        )
        anchor, offset, due_utc = "absolute", None, _utc(due_at, "due_at") if due_at else None
    if fire_utc != computed:
        why += f"; moved from {computed.astimezone(zone):%Y-%m-%d %H:%M} (snoozed or rescheduled)"
    return ReminderExplanation(
        anchor=anchor,
        due_at=due_utc,
        offset_minutes=offset,
        timezone=timezone,
        fire_at_utc=fire_utc,
        fire_at_local=fire_local,
        state=state,
        why=f"{why}; {state}.",
    )


def _local_and_utc(fire_local: datetime, due_local: datetime, fire_utc: datetime) -> str:
    day = "" if fire_local.date() == due_local.date() else f"{fire_local:%Y-%m-%d} "
    return f"{day}{fire_local:%H:%M} local ({fire_utc:%H:%M} UTC)"


def _duration(minutes: int) -> str:
    """90 -> "1 hour 30 minutes", 2880 -> "2 days"."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (mins, "minute")]
    return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)
