"""How completing or skipping an occurrence is carried out: the one port the HTTP and MCP
adapters call. In-process (one transaction) when the app runs without Dapr; the
complete_occurrence saga when it runs with a sidecar. Same contract either way."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel

from domain.errors import NotFound
from domain.tasks import Status
from service import tasks
from service.schemas import Completion
from store.uow import SqlUnitOfWork

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
    def __init__(self, uow_factory: Callable[[], SqlUnitOfWork]) -> None:
        self.uow_factory = uow_factory

    async def finish(
        self, user_id: str, task_id: uuid.UUID, status: Status, key: str | None
    ) -> Completion | Pending:
        if status is Status.COMPLETED:
            return await tasks.complete_task(self.uow_factory(), user_id, task_id, key)
        return await tasks.skip_task(self.uow_factory(), user_id, task_id, key)

    async def operation(self, operation_id: str) -> dict:
        """In-process completions finish within their request: none is ever pending."""
        raise NotFound(f"operation {operation_id} not found")
