"""Series use cases for the RecurringTaskActor: its definition, pause/resume/end, and
skipping one future instance (EXDATE). Internal: callers are trusted adapters that address
a series by id, and every change still names the owner."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import text

from domain.errors import NotFound, ValidationFailed
from domain.recurrence import CatchUp, RecurrenceMode, Rule, parse_rule
from store import tasks_repo as repo
from store.uow import SqlUnitOfWork


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


async def definition(uow: SqlUnitOfWork, series_id: uuid.UUID) -> SeriesDefinition:
    async with uow:
        row = (
            (
                await uow.conn.execute(
                    text(
                        "SELECT s.*, (SELECT count(*) FROM tasks t WHERE t.series_id = s.id) AS n, "
                        "o.id AS open_id, o.occurrence_index AS open_index, o.due_at AS open_due "
                        "FROM series s LEFT JOIN LATERAL (SELECT id, occurrence_index, due_at "
                        "FROM tasks WHERE series_id = s.id AND status = 'open' "
                        "ORDER BY occurrence_index DESC LIMIT 1) o ON true WHERE s.id = :id"
                    ),
                    {"id": series_id},
                )
            )
            .mappings()
            .first()
        )
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


async def set_state(uow: SqlUnitOfWork, user_id: str, series_id: uuid.UUID, state: str) -> None:
    if state not in {"active", "paused", "ended"}:
        raise ValidationFailed.field("state", "must be active, paused or ended")
    async with uow:
        await repo.update_series(uow.conn, user_id, series_id, {"state": state})
        await uow.commit()


async def add_exdate(
    uow: SqlUnitOfWork, user_id: str, series_id: uuid.UUID, local: datetime
) -> None:
    """Skip one future instance (by its wall-clock time) without touching the others."""
    async with uow:
        await uow.conn.execute(
            text(
                "UPDATE series SET exdates = array_append(exdates, :d), updated_at = now() "
                "WHERE id = :id AND user_id = :u AND NOT (:d = ANY(exdates))"
            ),
            {"d": local, "id": series_id, "u": user_id},
        )
        await uow.commit()
