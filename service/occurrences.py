"""Closing an occurrence (complete or skip) and spawning the series' next one.

These are the steps the completion saga runs as separate activities; the synchronous path
runs them in one transaction. Both are idempotent: an occurrence closed twice keeps its first
result, and the next occurrence is unique on (series_id, occurrence_index).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import text

from domain.errors import Conflict
from domain.events import TaskCompleted, TaskCreated, TaskSkipped
from domain.recurrence import Occurrence, next_occurrence
from domain.reminders import ReminderSpec, fire_time
from domain.tasks import Status, occurrence_id
from service.task_views import local_wall_clock, rule_of, to_public
from store import tasks_repo as repo
from store.uow import SqlUnitOfWork

M = TypeVar("M", bound=BaseModel)
# Marks events of changes made by the completion saga, which syncs the user's reminder
# schedule itself: consumers that would do the same can skip them.
BY_SAGA = "by_saga"


async def close_occurrence(
    uow: SqlUnitOfWork, user_id: str, row: dict[str, Any], status: Status
) -> uuid.UUID | None:
    """Close the (locked) task row and spawn the series' next occurrence; return its id."""
    if row["status"] == status:
        return await existing_next(uow, user_id, row)
    await mark_closed(uow, user_id, row, status)
    next_id = await spawn_next(uow, user_id, row, closed_at=uow.now())
    record_closed(uow, user_id, row, status, next_id)
    return next_id


async def existing_next(uow: SqlUnitOfWork, user_id: str, row: dict[str, Any]) -> uuid.UUID | None:
    if row["series_id"] is None:
        return None
    return await repo.next_in_series(uow.conn, user_id, row["series_id"], row["occurrence_index"])


async def mark_closed(
    uow: SqlUnitOfWork, user_id: str, row: dict[str, Any], status: Status
) -> None:
    """Status, completion time, version; its pending reminders will never fire. The caller
    records the event once it knows the next occurrence."""
    now = uow.now()
    await repo.update_task(
        uow.conn,
        user_id,
        row["id"],
        {
            "status": status.value,
            "completed_at": now if status is Status.COMPLETED else None,
            "updated_at": now,
            "version": row["version"] + 1,
        },
    )
    await repo.cancel_pending_reminders(uow.conn, row["id"])


def record_closed(
    uow: SqlUnitOfWork,
    user_id: str,
    row: dict[str, Any],
    status: Status,
    next_id: uuid.UUID | None,
    *,
    by_saga: bool = False,
    event_id: uuid.UUID | None = None,
) -> None:
    """`event_id`: given by a step that may run again, so a re-run records the same event."""
    event = TaskCompleted if status is Status.COMPLETED else TaskSkipped
    data = {
        "next_task_id": str(next_id) if next_id else None,
        "series_id": str(row["series_id"]) if row["series_id"] else None,
        "title": row["title"],  # consumers name the task without reading it back
    }
    if by_saga:
        data[BY_SAGA] = True
    given = {"event_id": event_id} if event_id is not None else {}
    uow.record(event(occurred_at=uow.now(), user_id=user_id, task_id=row["id"], data=data, **given))


def compute_next(row: dict[str, Any], closed_at: datetime, now: datetime) -> Occurrence | None:
    """The domain's answer for the occurrence after `row` (a series row)."""
    rule = rule_of(row)
    done = Occurrence(
        index=row["occurrence_index"],
        local=local_wall_clock(row["due_at"], rule.timezone),
        due_at=row["due_at"],
    )
    return next_occurrence(rule, done, completed_at=closed_at, now=now)


async def spawn_next(
    uow: SqlUnitOfWork, user_id: str, row: dict[str, Any], closed_at: datetime
) -> uuid.UUID | None:
    """Create the occurrence after `row` (idempotent); None when the series has ended."""
    if row["series_id"] is None or row["series_state"] != "active":
        return None
    upcoming = compute_next(row, closed_at, uow.now())
    if upcoming is None:
        await end_series(uow, user_id, row["series_id"])
        return None
    return await create_occurrence(uow, user_id, row, upcoming.index, upcoming.due_at)


async def end_series(uow: SqlUnitOfWork, user_id: str, series_id: uuid.UUID) -> None:
    await repo.update_series(uow.conn, user_id, series_id, {"state": "ended"})


async def create_occurrence(
    uow: SqlUnitOfWork,
    user_id: str,
    row: dict[str, Any],
    index: int,
    due_at: datetime,
    *,
    by_saga: bool = False,
) -> uuid.UUID:
    """The series occurrence `index`, copied from `row`; an existing one is returned as is."""
    new_id = occurrence_id(row["series_id"], index)
    now = uow.now()
    created = await repo.insert_task(
        uow.conn,
        {
            "id": new_id,
            "user_id": user_id,
            "title": row["title"],
            "description": row["description"],
            "priority": row["priority"],
            "status": Status.OPEN.value,
            "due_at": due_at,
            "timezone": row["timezone"],
            "series_id": row["series_id"],
            "occurrence_index": index,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        },
    )
    if not created:  # a concurrent or earlier run made it already
        return await repo.stored_occurrence_id(uow.conn, user_id, row["series_id"], index)
    tag_ids = await repo.tag_ids(uow.conn, user_id, row["tags"])
    await repo.set_task_tags(uow.conn, new_id, list(tag_ids.values()))
    await repo.replace_reminders(uow.conn, user_id, new_id, _carried_reminders(row, due_at))
    task = to_public((await repo.get_rows(uow.conn, user_id, [new_id]))[0])
    data = task.model_dump(mode="json")
    if by_saga:
        data[BY_SAGA] = True
    uow.record(TaskCreated(occurred_at=now, user_id=user_id, task_id=new_id, data=data))
    return new_id


def _carried_reminders(row: dict[str, Any], due: datetime) -> list[dict[str, Any]]:
    """Relative reminders follow the series; absolute ones belonged to one occurrence."""
    rows = []
    for item in row["reminders"]:
        _, before, _, _, _ = item
        if before is not None:
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "position": len(rows),
                    "before_minutes": before,
                    "at": None,
                    "fire_at": fire_time(ReminderSpec(before_minutes=before), due),
                    "state": "pending",
                }
            )
    return rows


async def recall(
    uow: SqlUnitOfWork, user_id: str, key: str | None, operation: str, model: type[M]
) -> M | None:
    """The stored first result of a request made with idempotency `key`, if any."""
    if key is None:
        return None
    found = (
        await uow.conn.execute(
            text("SELECT operation, result FROM idempotency_keys WHERE user_id = :u AND key = :k"),
            {"u": user_id, "k": key},
        )
    ).first()
    if found is None:
        return None
    if found.operation != operation:
        raise Conflict("this idempotency key was already used for a different request")
    return model.model_validate(found.result)


async def remember(
    uow: SqlUnitOfWork, user_id: str, key: str | None, operation: str, result: BaseModel
) -> None:
    """Store `result` under `key` in the caller's transaction (call before commit)."""
    if key is None:
        return
    await uow.conn.execute(
        text(
            "INSERT INTO idempotency_keys (user_id, key, operation, result) "
            "VALUES (:u, :k, :o, CAST(:r AS jsonb)) ON CONFLICT DO NOTHING"
        ),
        {"u": user_id, "k": key, "o": operation, "r": result.model_dump_json()},
    )


def operation(name: str, *parts: object) -> str:
    """What a key is bound to: the same key with another request is a client error."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
    return f"{name}:{digest}"
