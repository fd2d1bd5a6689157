"""Series use cases for the RecurringTaskActor: its definition, pause/resume/end, and
skipping one future instance (EXDATE). Internal: callers are trusted adapters that address
a series by id, and every change still names the owner."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from domain.errors import NotFound, ValidationFailed
from domain.events import TaskUpdated
from domain.recurrence import CatchUp, RecurrenceMode, Rule, parse_rule
from service.occurrences import respawn
from service.unit_of_work import UnitOfWork


class SeriesDefinition(BaseModel):
    series_id: uuid.UUID
    user_id: str
    rrule: str
    timezone: str
    dtstart: datetime
    mode: RecurrenceMode
    catch_up: CatchUp
    exdates: list[datetime]
    state: str
    open_task_id: uuid.UUID | None
    open_index: int | None
    open_due_at: datetime | None
    generated: int

    def rule(self) -> Rule:
        return parse_rule(
            self.rrule,
            self.dtstart,
            self.timezone,
            mode=self.mode,
            catch_up=self.catch_up,
            exdates=tuple(self.exdates),
        )


async def definition(uow: UnitOfWork, series_id: uuid.UUID) -> SeriesDefinition:
    async with uow.reading():
        row = await uow.series.definition(series_id)
    if row is None:
        raise NotFound(f"series {series_id} not found")
    return SeriesDefinition(
        series_id=row["id"],
        user_id=row["user_id"],
        rrule=row["rrule"],
        timezone=row["timezone"],
        dtstart=row["dtstart"],
        mode=row["mode"],
        catch_up=row["catch_up"],
        exdates=list(row["exdates"] or []),
        state=row["state"],
        open_task_id=row["open_id"],
        open_index=row["open_index"],
        open_due_at=row["open_due"],
        generated=row["n"],
    )


async def set_state(uow: UnitOfWork, user_id: str, series_id: uuid.UUID, state: str) -> None:
    """The open occurrence gets a task.updated event, so the reminder schedule re-reads
    its reminders: a paused series' reminders stop, and come back when it resumes. A
    resumed series whose last occurrence closed while it was paused gets its next one."""
    if state not in {"active", "paused", "ended"}:
        raise ValidationFailed.field("state", "must be active, paused or ended")
    async with uow:
        await uow.series.set_state(user_id, series_id, state)
        if state == "active":  # its last occurrence may have closed while it was paused
            await respawn(uow, user_id, series_id)
        row = await uow.series.definition(series_id)
        if row is not None and row["open_id"] is not None:
            uow.record(
                TaskUpdated(
                    occurred_at=uow.now(),
                    user_id=user_id,
                    task_id=row["open_id"],
                    data={"changed": ["series_state"], "series_state": state},
                )
            )
        await uow.commit()


async def add_exdate(uow: UnitOfWork, user_id: str, series_id: uuid.UUID, local: datetime) -> None:
    """Skip one future instance (by its wall-clock time) without touching the others."""
    async with uow:
        await uow.series.add_exdate(user_id, series_id, local)
        await uow.commit()
