"""The completion saga's steps as use cases. Each is one transaction and idempotent, so a
workflow activity may run it again after a crash or a retry and get the same answer."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel

from domain.errors import Conflict, NotFound
from domain.events import TaskCompletionFailed, TaskUpdated
from domain.tasks import Status
from service.occurrences import (
    create_occurrence,
    end_series,
    existing_next,
    mark_closed,
    record_closed,
)
from service.task_views import local_wall_clock
from store import tasks_repo as repo
from store.uow import SqlUnitOfWork


class Closed(BaseModel):
    """What step 1 learned: enough for the series actor to compute the next occurrence."""

    task_id: uuid.UUID
    user_id: str
    status: Status
    closed_at: AwareDatetime
    series_id: uuid.UUID | None
    occurrence_index: int | None
    due_at: AwareDatetime | None
    local_due: datetime | None  # the occurrence's wall clock in the series zone
    # set when the task was closed before this run: the saga has nothing left to do
    already_next_id: uuid.UUID | None = None
    already_closed: bool = False


class NextOccurrence(BaseModel):
    index: int
    due_at: AwareDatetime


async def close(uow: SqlUnitOfWork, user_id: str, task_id: uuid.UUID, status: Status) -> Closed:
    """Step 1: mark the occurrence closed (transaction plus outbox)."""
    async with uow:
        row = await repo.get_row(uow.conn, user_id, task_id, lock=True)
        if row is None:
            raise NotFound(f"task {task_id} not found")
        if row["status"] not in (Status.OPEN, status):
            raise Conflict(f"task is already {row['status']}")
        already = row["status"] == status
        if already:
            closed_at = row["completed_at"] or row["updated_at"]
            next_id = await existing_next(uow, user_id, row)
        else:
            closed_at = uow.now()
            next_id = None
            await mark_closed(uow, user_id, row, status)
            if row["series_id"] is None:
                record_closed(uow, user_id, row, status, None, by_saga=True)
            await uow.commit()
        series_tz = row["series_timezone"] or row["timezone"]
        return Closed(
            task_id=task_id,
            user_id=user_id,
            status=status,
            closed_at=closed_at,
            series_id=row["series_id"] if row["series_state"] == "active" else None,
            occurrence_index=row["occurrence_index"],
            due_at=row["due_at"],
            local_due=local_wall_clock(row["due_at"], series_tz) if row["due_at"] else None,
            already_next_id=next_id,
            already_closed=already,
        )


async def record_next(
    uow: SqlUnitOfWork, closed: Closed, upcoming: NextOccurrence | None, *, ended: bool
) -> uuid.UUID | None:
    """Step 3: create the next occurrence (unique on series and index); with none, the
    series has ended (or is paused, and stays as it is)."""
    async with uow:
        row = await repo.get_row(uow.conn, closed.user_id, closed.task_id)
        if row is None:
            raise NotFound(f"task {closed.task_id} not found")
        if upcoming is None:
            if row["series_id"] is not None and ended:
                await end_series(uow, closed.user_id, row["series_id"])
            next_id = None
        else:
            next_id = await create_occurrence(
                uow, closed.user_id, row, upcoming.index, upcoming.due_at, by_saga=True
            )
        # a retry of this step after its commit records the same event, which the outbox
        # keeps once
        event_id = uuid.uuid5(closed.task_id, f"{closed.status}/{closed.closed_at.isoformat()}")
        record_closed(
            uow, closed.user_id, row, closed.status, next_id, by_saga=True, event_id=event_id
        )
        await uow.commit()
        return next_id


async def reopen(uow: SqlUnitOfWork, closed: Closed, reason: str) -> None:
    """Compensation: the next occurrence could not be created, so the closed one reopens
    (its reminders come back) and `task.completion_failed` says why."""
    async with uow:
        row = await repo.get_row(uow.conn, closed.user_id, closed.task_id, lock=True)
        if row is None:
            return
        now = uow.now()
        if row["status"] != Status.OPEN:
            await repo.update_task(
                uow.conn,
                closed.user_id,
                closed.task_id,
                {
                    "status": Status.OPEN.value,
                    "completed_at": None,
                    "updated_at": now,
                    "version": row["version"] + 1,
                },
            )
            await repo.restore_cancelled_reminders(uow.conn, closed.task_id, now)
            uow.record(
                TaskUpdated(
                    occurred_at=now,
                    user_id=closed.user_id,
                    task_id=closed.task_id,
                    data={"changed": ["status"], "reopened": True},
                )
            )
        uow.record(
            TaskCompletionFailed(
                occurred_at=now,
                user_id=closed.user_id,
                task_id=closed.task_id,
                data={"status": closed.status.value, "reason": reason[:500]},
            )
        )
        await uow.commit()
