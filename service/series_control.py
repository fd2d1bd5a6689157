"""Series control for the series' owner: describe a series, pause, resume or end it, and
skip a chosen future date (an EXDATE). Each change goes through the series' own
RecurringTaskActor (SeriesControl), the one place that decides what comes next, so a
pause or a skipped date takes effect between two of its turns, never in the middle of one.
Without a sidecar the in-process stand-in makes the same changes to the database.

Every call first checks that the series is the caller's: another user's id is NotFound."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Literal, Protocol

from domain.errors import Conflict, NotFound, ValidationFailed
from domain.recurrence import preview, summarize
from domain.zones import load_zone
from service import series as series_svc
from service.schemas import SeriesView
from service.series import SeriesDefinition
from service.unit_of_work import UnitOfWork

Action = Literal["pause", "resume", "end"]
STATE_AFTER: dict[Action, str] = {"pause": "paused", "resume": "active", "end": "ended"}
NEXT_DATES = 5
# instances a skipped date may hold (an hourly rule has 24 on a day)
MAX_PER_DAY = 48


class SeriesControl(Protocol):
    """The series actor's control methods, as RecurringTaskActor answers them."""

    async def describe(self, series_id: uuid.UUID) -> SeriesDefinition: ...

    async def set_state(self, series_id: uuid.UUID, state: str) -> SeriesDefinition: ...

    async def skip(self, series_id: uuid.UUID, local: datetime) -> SeriesDefinition: ...


class InProcessSeriesControl:
    """Where no sidecar runs: the same changes, straight to the database."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self.uow_factory = uow_factory

    async def describe(self, series_id: uuid.UUID) -> SeriesDefinition:
        return await series_svc.definition(self.uow_factory(), series_id)

    async def set_state(self, series_id: uuid.UUID, state: str) -> SeriesDefinition:
        d = await self.describe(series_id)
        await series_svc.set_state(self.uow_factory(), d.user_id, series_id, state)
        return await self.describe(series_id)

    async def skip(self, series_id: uuid.UUID, local: datetime) -> SeriesDefinition:
        d = await self.describe(series_id)
        await series_svc.add_exdate(self.uow_factory(), d.user_id, series_id, local)
        return await self.describe(series_id)


async def _owned(uow: UnitOfWork, user_id: str, series_id: uuid.UUID) -> SeriesDefinition:
    d = await series_svc.definition(uow, series_id)
    if d.user_id != user_id:
        raise NotFound(f"series {series_id} not found")
    return d


OPEN = ("open_task_id", "open_index", "open_due_at")


def view(d: SeriesDefinition, stored: SeriesDefinition, now: datetime) -> SeriesView:
    """The actor's answer `d`, with the open occurrence as the database has it (`stored`):
    a completion that spawns nothing (paused, ended) closes it without asking the actor."""
    d = d.model_copy(update={name: getattr(stored, name) for name in OPEN})
    rule = d.rule()
    after = d.open_due_at or now
    upcoming = preview(rule, NEXT_DATES, after=after) if d.state != "ended" else []
    zone = load_zone(d.timezone)
    return SeriesView(
        series_id=d.series_id,
        rrule=d.rrule,
        summary=summarize(rule),
        timezone=d.timezone,
        mode=d.mode,
        state=d.state,  # type: ignore[arg-type]
        exdates=sorted(d.exdates),
        open_task_id=d.open_task_id,
        open_due_at=d.open_due_at.astimezone(zone) if d.open_due_at else None,
        next_dates=[o.due_at.astimezone(zone) for o in upcoming],
    )


async def describe(
    uow: UnitOfWork, control: SeriesControl, user_id: str, series_id: uuid.UUID
) -> SeriesView:
    stored = await _owned(uow, user_id, series_id)
    return view(await control.describe(series_id), stored, uow.now())


async def change(
    uow: UnitOfWork, control: SeriesControl, user_id: str, series_id: uuid.UUID, action: Action
) -> SeriesView:
    """Pause (nothing spawns and its reminders wait), resume, or end (for good)."""
    d = await _owned(uow, user_id, series_id)
    if d.state == "ended" and action != "end":
        raise Conflict("the series has ended: it cannot be paused or resumed")
    changed = await control.set_state(series_id, STATE_AFTER[action])
    return view(changed, changed, uow.now())  # read back after the change: a resume may spawn


async def skip_date(
    uow: UnitOfWork, control: SeriesControl, user_id: str, series_id: uuid.UUID, day: date
) -> SeriesView:
    """Skip every instance the series has on `day` (local), after its open occurrence."""
    stored = d = await _owned(uow, user_id, series_id)
    if d.state == "ended":
        raise Conflict("the series has ended: it has no future dates")
    zone = load_zone(d.timezone)
    start = datetime.combine(day, time.min, zone)
    on_day = [
        o
        for o in preview(d.rule(), MAX_PER_DAY, after=start - timedelta(microseconds=1))
        if o.local.date() == day
    ]
    if not on_day:
        raise ValidationFailed.field("date", f"the series has no instance on {day}")
    if d.open_due_at is not None and any(o.due_at <= d.open_due_at for o in on_day):
        raise Conflict(
            f"{day} is not after the open occurrence: skip that one with skip_occurrence "
            "(POST /v1/tasks/{id}/skip), or pick a later date"
        )
    if any(o.due_at <= uow.now() for o in on_day):
        raise ValidationFailed.field("date", f"{day} is not in the future")
    for occurrence in on_day:
        d = await control.skip(series_id, occurrence.local)
    return view(d, stored, uow.now())
