"""How completing or skipping an occurrence is carried out: the one port the HTTP and MCP
adapters call. In-process (one transaction) when the app runs without Dapr; the
complete_occurrence saga when it runs with a sidecar. Same contract either way, and the
same rules (service.occurrences) underneath."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel

from domain.errors import Conflict, NotFound
from domain.tasks import Status
from service.occurrences import (
    CloseRequest,
    close_in_place,
    completion,
    existing_next,
    operation,
    recall,
    remember,
)
from service.schemas import Completion
from service.unit_of_work import UnitOfWork

# Operation ids name one attempt at closing an occurrence. The first attempt is
# `complete-<task_id>`, as every attempt was named before attempts were counted, so an
# operation started by an older release is still found; a later attempt (after one that
# failed and reopened the occurrence) is `complete-<task_id>-<n>`, n = 2, 3, ...
_OPERATION = re.compile(r"complete-(?P<task>[0-9a-f-]{36})(?:-(?P<attempt>[1-9][0-9]*))?")


def operation_id(task_id: uuid.UUID, attempt: int) -> str:
    return f"complete-{task_id}" if attempt == 1 else f"complete-{task_id}-{attempt}"


def operation_task(operation: str) -> uuid.UUID | None:
    """The occurrence an operation id belongs to; None when it names no attempt."""
    match = _OPERATION.fullmatch(operation)
    if match is None:
        return None
    try:
        task_id = uuid.UUID(match["task"])
    except ValueError:
        return None
    attempt = int(match["attempt"] or 1)
    return task_id if operation_id(task_id, attempt) == operation else None


def operation_attempt(operation: str) -> int:
    """The attempt number an operation id names (1 for one that names none)."""
    match = _OPERATION.fullmatch(operation)
    return int(match["attempt"] or 1) if match is not None else 1


class Pending(BaseModel):
    """The saga is still running; poll `/v1/operations/{operation_id}`."""

    operation_id: str


class Completions(Protocol):
    async def finish(
        self, user_id: str, task_id: uuid.UUID, status: Status, key: str | None
    ) -> Completion | Pending:
        """Raises DependencyUnavailable when the runtime cannot be reached."""

    async def operation(self, operation_id: str) -> dict: ...


class InProcessCompletions:
    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self.uow_factory = uow_factory

    async def finish(
        self, user_id: str, task_id: uuid.UUID, status: Status, key: str | None
    ) -> Completion | Pending:
        """Completing a closed task again returns the same result again."""
        request = CloseRequest(user_id=user_id, task_id=task_id, status=status)
        op = operation(status.value, task_id)
        async with self.uow_factory() as uow:
            if replay := await recall(uow, user_id, key, op, Completion):
                return replay
            result = await close_in_place(uow, request)
            await remember(uow, user_id, key, op, result)
            await uow.commit()
            return result

    async def operation(self, operation_id: str) -> dict:
        """In-process completions finish within their request: none is ever pending."""
        raise NotFound(f"operation {operation_id} not found")


async def before_saga(uow: UnitOfWork, request: CloseRequest, key: str | None) -> Completion | None:
    """Before the saga runs: a replayed key's result, or the result of an occurrence that
    is already closed this way; None when the saga has work to do. NotFound and Conflict
    surface here, before any workflow starts."""
    async with uow.reading():
        op = operation(request.status.value, request.task_id)
        if replay := await recall(uow, request.user_id, key, op, Completion):
            return replay
        task = await uow.tasks.progress(request.user_id, request.task_id)
        if task is None:
            raise NotFound(f"task {request.task_id} not found")
        if task["status"] == Status.OPEN:
            return None
        if task["status"] != request.status:
            raise Conflict(f"task is already {task['status']}")
        next_id = await existing_next(uow, request.user_id, task)
        if next_id is None and task["series_id"] is not None and task["series_state"] == "active":
            return None  # closed, but its saga has not created the next occurrence yet: join it
        return await completion(uow, request.user_id, request.task_id, next_id)


async def after_saga(
    uow: UnitOfWork, request: CloseRequest, key: str | None, result: Completion
) -> Completion:
    """The saga's result, remembered under the caller's idempotency key (a transaction
    only when there is a key)."""
    if key is None:
        return result
    async with uow:
        await remember(
            uow, request.user_id, key, operation(request.status.value, request.task_id), result
        )
        await uow.commit()
    return result
