"""Closing an occurrence (complete or skip) and spawning its series' next one: the rules,
written once.

Three steps: `close` the occurrence, `decide_next` (the series' rule, a pure function the
RecurringTaskActor calls as well), and `record_next` (the next occurrence and the event that
says it all). The saga runs them as one activity, with the decision asked of the series
actor; `close_in_place` runs them in the caller's one transaction where no sidecar runs.
Each step is idempotent: an occurrence closed twice keeps its first result, the next
occurrence is unique on (series_id, occurrence_index), and the closing event has an id
derived from the close, so a re-run records it once.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict

from domain.errors import Conflict, NotFound
from domain.events import TaskCompleted, TaskCompletionFailed, TaskCreated, TaskSkipped, TaskUpdated
from domain.recurrence import Occurrence, Rule, next_occurrence
from domain.reminders import ReminderSpec, fire_time
from domain.tasks import Status, occurrence_id
from service.schemas import Completion
from service.task_views import local_wall_clock, rule_of, to_public
from service.unit_of_work import UnitOfWork

M = TypeVar("M", bound=BaseModel)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CloseRequest(_Message):
    """Close `task_id` as `status` for its owner: the saga's input."""

    user_id: str
    task_id: uuid.UUID
    status: Status


class NextRequest(_Message):
    """What the series needs to decide the occurrence after a closed one."""

    occurrence_index: int
    local_due: datetime  # the closed occurrence's wall clock in the series zone
    due_at: AwareDatetime
    closed_at: AwareDatetime


class NextOccurrence(_Message):
    index: int
    due_at: AwareDatetime


class NextAnswer(_Message):
    """The occurrence after a closed one; none when the series ended (or is paused)."""

    next: NextOccurrence | None
    ended: bool


class Closed(_Message):
    """What `close` found or did."""

    request: CloseRequest
    closed_at: AwareDatetime
    series_id: uuid.UUID | None  # set while the series is active: it has a next to decide
    next_request: NextRequest | None
    next_id: uuid.UUID | None = None  # the next occurrence, when an earlier run made it

    @property
    def done(self) -> bool:
        """Nothing left to record: no next to decide, or it exists already."""
        return self.series_id is None or self.next_id is not None


class Advanced(_Message):
    """The saga's output: the completion, or why the occurrence could not be closed."""

    completion: Completion | None = None
    refused: Literal["not_found", "conflict"] | None = None
    reason: str = ""


class ReopenRequest(_Message):
    request: CloseRequest
    reason: str


def decide_next(rule: Rule, request: NextRequest, now: datetime) -> NextAnswer:
    """The domain's answer for the occurrence after a closed one."""
    done = Occurrence(
        index=request.occurrence_index, local=request.local_due, due_at=request.due_at
    )
    upcoming = next_occurrence(rule, done, completed_at=request.closed_at, now=now)
    if upcoming is None:
        return NextAnswer(next=None, ended=True)
    return NextAnswer(
        next=NextOccurrence(index=upcoming.index, due_at=upcoming.due_at), ended=False
    )


async def close(uow: UnitOfWork, request: CloseRequest) -> tuple[Closed, dict[str, Any]]:
    """Step 1, in the caller's transaction: lock the occurrence and close it. Returns what
    happened and the locked row (as it was before the close). Raises NotFound, and Conflict
    when it was closed the other way."""
    row = await uow.tasks.get_row(request.user_id, request.task_id, lock=True)
    if row is None:
        raise NotFound(f"task {request.task_id} not found")
    if row["status"] not in (Status.OPEN, request.status):
        raise Conflict(f"task is already {row['status']}")
    active = row["series_id"] is not None and row["series_state"] == "active"
    again = row["status"] == request.status
    if again:
        closed_at = row["completed_at"] or row["updated_at"]
        next_id = await existing_next(uow, request.user_id, row)
    else:
        closed_at = uow.now()
        next_id = None
        await _mark_closed(uow, request.user_id, row, request.status, closed_at)
    closed = Closed(
        request=request,
        closed_at=closed_at,
        series_id=row["series_id"] if active else None,
        next_request=_next_request(row, closed_at) if active else None,
        next_id=next_id,
    )
    if closed.series_id is None and not again:
        _record_closed(uow, closed, row, None)  # nothing to decide: the event is complete
    return closed, row


async def record_next(
    uow: UnitOfWork, closed: Closed, row: dict[str, Any], answer: NextAnswer
) -> Completion:
    """Step 3, in the caller's transaction: create the decided next occurrence from `row`
    (the closed one), or end the series; record the events. Returns the completion as the
    caller sees it: one read gives it and the new occurrence's event."""
    request = closed.request
    next_id, created = None, False
    if answer.next is not None:
        next_id, created = await _create_occurrence(uow, row, answer.next)
    elif answer.ended and closed.series_id is not None:
        await uow.tasks.update_series(request.user_id, closed.series_id, {"state": "ended"})
    result = await completion(uow, request.user_id, request.task_id, next_id)
    if created and result.next is not None:
        uow.record(
            TaskCreated(
                occurred_at=uow.now(),
                user_id=request.user_id,
                task_id=result.next.id,
                data=result.next.model_dump(mode="json"),
            )
        )
    _record_closed(uow, closed, row, next_id)
    return result


async def completion(
    uow: UnitOfWork, user_id: str, task_id: uuid.UUID, next_id: uuid.UUID | None
) -> Completion:
    """The closed task and its successor as the caller sees them, read in one query."""
    ids = [task_id, next_id] if next_id else [task_id]
    rows = {r["id"]: r for r in await uow.tasks.get_rows(user_id, ids)}
    if task_id not in rows or (next_id is not None and next_id not in rows):
        raise NotFound(f"task {task_id if task_id not in rows else next_id} not found")
    return Completion(
        task=to_public(rows[task_id]), next=to_public(rows[next_id]) if next_id else None
    )


async def close_in_place(
    uow: UnitOfWork, request: CloseRequest, *, with_result: bool = True
) -> Completion | None:
    """All three steps in the caller's transaction, the series rule read from the row: for
    where no sidecar runs, and for a delete that closes an open occurrence."""
    closed, row = await close(uow, request)
    if not closed.done:
        answer = decide_next(rule_of(row), closed.next_request, uow.now())
        return await record_next(uow, closed, row, answer)
    if not with_result:
        return None
    return await completion(uow, request.user_id, request.task_id, closed.next_id)


async def reopen(uow: UnitOfWork, undo: ReopenRequest) -> bool:
    """Compensation, in the caller's transaction: the next occurrence could not be made,
    so an occurrence closed this way with no successor opens again (its reminders come
    back); `task.completion_failed` says why. True when it reopened."""
    request = undo.request
    row = await uow.tasks.get_row(request.user_id, request.task_id, lock=True)
    if row is None:
        return False
    now = uow.now()
    undone = (
        row["status"] == request.status
        and row["series_id"] is not None
        and await existing_next(uow, request.user_id, row) is None
    )
    if undone:
        await uow.tasks.update_task(
            request.user_id,
            request.task_id,
            {
                "status": Status.OPEN.value,
                "completed_at": None,
                "updated_at": now,
                "version": row["version"] + 1,
            },
        )
        await uow.tasks.restore_cancelled_reminders(request.task_id, now)
        uow.record(
            TaskUpdated(
                occurred_at=now,
                user_id=request.user_id,
                task_id=request.task_id,
                data={"changed": ["status"], "reopened": True},
            )
        )
    uow.record(
        TaskCompletionFailed(
            occurred_at=now,
            user_id=request.user_id,
            task_id=request.task_id,
            data={"status": request.status.value, "reason": undo.reason[:500]},
        )
    )
    return undone


async def respawn(uow: UnitOfWork, user_id: str, series_id: uuid.UUID) -> uuid.UUID | None:
    """In the caller's transaction: for an active series with no open occurrence (its last
    one closed while it was paused), the next one after now, decided as a completion of
    that last one now would decide it; None when one is open or the rule has ended."""
    last_id = await uow.tasks.last_in_series(user_id, series_id)
    row = await uow.tasks.get_row(user_id, last_id, lock=True) if last_id else None
    if row is None or row["status"] == Status.OPEN or row["series_state"] != "active":
        return None
    now = uow.now()
    answer = decide_next(rule_of(row), _next_request(row, now), now)
    if answer.next is None:
        return None
    next_id, created = await _create_occurrence(uow, row, answer.next)
    if created:
        nxt = await completion(uow, user_id, row["id"], next_id)
        if nxt.next is not None:
            uow.record(
                TaskCreated(
                    occurred_at=now,
                    user_id=user_id,
                    task_id=next_id,
                    data=nxt.next.model_dump(mode="json"),
                )
            )
    return next_id


async def existing_next(uow: UnitOfWork, user_id: str, row: dict[str, Any]) -> uuid.UUID | None:
    """The occurrence after `row` in its series, if one was made."""
    if row["series_id"] is None:
        return None
    return await uow.tasks.next_in_series(user_id, row["series_id"], row["occurrence_index"])


# -- helpers ---------------------------------------------------------------------------------


def _next_request(row: dict[str, Any], closed_at: datetime) -> NextRequest:
    series_zone = row["series_timezone"] or row["timezone"]
    return NextRequest(
        occurrence_index=row["occurrence_index"],
        local_due=local_wall_clock(row["due_at"], series_zone),
        due_at=row["due_at"],
        closed_at=closed_at,
    )


async def _mark_closed(
    uow: UnitOfWork, user_id: str, row: dict[str, Any], status: Status, now: datetime
) -> None:
    """Status, completion time, version; its pending reminders will never fire."""
    await uow.tasks.update_task(
        user_id,
        row["id"],
        {
            "status": status.value,
            "completed_at": now if status is Status.COMPLETED else None,
            "updated_at": now,
            "version": row["version"] + 1,
        },
    )
    await uow.tasks.cancel_pending_reminders(row["id"])


def _record_closed(
    uow: UnitOfWork, closed: Closed, row: dict[str, Any], next_id: uuid.UUID | None
) -> None:
    """The closing event, once it is known whether a next occurrence came of it. Its id
    comes from the close, so a step that runs again records the same event, which the
    outbox keeps once."""
    request = closed.request
    event = TaskCompleted if request.status is Status.COMPLETED else TaskSkipped
    uow.record(
        event(
            event_id=uuid.uuid5(
                request.task_id, f"{request.status}/{closed.closed_at.isoformat()}"
            ),
            occurred_at=closed.closed_at,
            user_id=request.user_id,
            task_id=request.task_id,
            data={
                "next_task_id": str(next_id) if next_id else None,
                "series_id": str(row["series_id"]) if row["series_id"] else None,
                "title": row["title"],  # consumers name the task without reading it back
            },
        )
    )


async def _create_occurrence(
    uow: UnitOfWork, row: dict[str, Any], upcoming: NextOccurrence
) -> tuple[uuid.UUID, bool]:
    """The series occurrence `upcoming.index`, copied from `row`, and whether this call
    made it (an existing one is returned as is)."""
    user_id = row["user_id"]
    new_id = occurrence_id(row["series_id"], upcoming.index)
    now = uow.now()
    created = await uow.tasks.insert_task(
        {
            "id": new_id,
            "user_id": user_id,
            "title": row["title"],
            "description": row["description"],
            "priority": row["priority"],
            "status": Status.OPEN.value,
            "due_at": upcoming.due_at,
            "timezone": row["timezone"],
            "series_id": row["series_id"],
            "occurrence_index": upcoming.index,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
    )
    if not created:  # a concurrent or earlier run made it already
        stored = await uow.tasks.stored_occurrence_id(user_id, row["series_id"], upcoming.index)
        return stored, False
    tag_ids = await uow.tasks.tag_ids(user_id, row["tags"])
    await uow.tasks.set_task_tags(new_id, list(tag_ids.values()), fresh=True)
    await uow.tasks.replace_reminders(
        user_id, new_id, _carried_reminders(row, upcoming.due_at), fresh=True
    )
    return new_id, True


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


# -- idempotency keys ------------------------------------------------------------------------


async def recall(
    uow: UnitOfWork, user_id: str, key: str | None, operation: str, model: type[M]
) -> M | None:
    """The stored first result of a request made with idempotency `key`, if any."""
    if key is None:
        return None
    found = await uow.idempotency.find(user_id, key)
    if found is None:
        return None
    stored_operation, result = found
    if stored_operation != operation:
        raise Conflict("this idempotency key was already used for a different request")
    return model.model_validate(result)


async def remember(
    uow: UnitOfWork, user_id: str, key: str | None, operation: str, result: BaseModel
) -> None:
    """Store `result` under `key` in the caller's transaction (call before commit)."""
    if key is None:
        return
    await uow.idempotency.keep(user_id, key, operation, result.model_dump_json())


def operation(name: str, *parts: object) -> str:
    """What a key is bound to: the same key with another request is a client error."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
    return f"{name}:{digest}"
