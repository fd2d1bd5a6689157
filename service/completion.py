"""How completing or skipping an occurrence is carried out: the one port the HTTP and MCP
adapters call. In-process (one transaction) when the app runs without Dapr; the
complete_occurrence saga when it runs with a sidecar. Same contract either way."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel

from domain.errors import NotFound
from domain.tasks import Status
from service import tasks
from service.schemas import Completion
from store.uow import SqlUnitOfWork


class Pending(BaseModel):
    """The saga is still running; poll `/v1/operations/{operation_id}`."""

    operation_id: str


class Completions(Protocol):
    async def finish(
        self, user_id: str, task_id: uuid.UUID, status: Status, key: str | None
    ) -> Completion | Pending: ...

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
