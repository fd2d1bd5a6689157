"""The saga's activities. Each calls one service use case or one actor method.

The workflow worker runs activities on threads of its own, while the database engine and
the actor clients belong to the app's event loop; every activity therefore hands its
coroutine to that loop and waits for the answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dapr.actor import ActorProxyFactory
from dapr.ext.workflow import WorkflowActivityContext

from actors.clients import schedule_actor, series_actor
from domain.tasks import Status
from service import saga_steps
from store.uow import SqlUnitOfWork
from workflows import complete_occurrence as wf

ACTIVITY_TIMEOUT = 60.0


@dataclass(frozen=True)
class ActivityDeps:
    loop: asyncio.AbstractEventLoop
    uow_factory: Callable[[], SqlUnitOfWork]
    proxies: ActorProxyFactory


def jsonable(value: Any) -> Any:
    """Actor replies come back with ISO strings already turned into datetimes by the SDK's
    serializer; workflow payloads must be plain JSON again."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def activities(deps: ActivityDeps) -> dict[str, Callable[[WorkflowActivityContext, Any], Any]]:
    async def on_app_loop(coro: Coroutine[Any, Any, Any]) -> Any:
        # async activities run on the worker's own loop without holding one of its few
        # threads; the work itself runs on the app's loop, where its connections live
        future = asyncio.run_coroutine_threadsafe(coro, deps.loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), ACTIVITY_TIMEOUT)

    async def close_occurrence(ctx: WorkflowActivityContext, request: dict) -> dict:
        closed = await on_app_loop(
            saga_steps.close(
                deps.uow_factory(),
                request["user_id"],
                uuid.UUID(request["task_id"]),
                Status(request["status"]),
            )
        )
        return closed.model_dump(mode="json")

    async def next_occurrence(ctx: WorkflowActivityContext, closed: dict) -> dict:
        async def ask() -> dict:
            return await series_actor(deps.proxies, closed["series_id"]).NextAfter(closed)

        return jsonable(await on_app_loop(ask()))

    async def create_next_occurrence(ctx: WorkflowActivityContext, data: dict) -> str | None:
        closed = saga_steps.Closed.model_validate(data["closed"])
        answer = data["answer"] or {}
        upcoming = answer.get("next")
        nxt = saga_steps.NextOccurrence.model_validate(upcoming) if upcoming else None

        next_id = await on_app_loop(
            saga_steps.record_next(deps.uow_factory(), closed, nxt, ended=answer.get("ended", True))
        )
        return str(next_id) if next_id else None

    async def sync_reminders(ctx: WorkflowActivityContext, data: dict) -> dict:
        async def sync() -> dict:
            schedule = schedule_actor(deps.proxies, data["user_id"])
            return await schedule.SyncTasks({"task_ids": data["task_ids"]})

        return jsonable(await on_app_loop(sync()))

    async def reopen_occurrence(ctx: WorkflowActivityContext, data: dict) -> None:
        closed = saga_steps.Closed.model_validate(data["closed"])
        await on_app_loop(saga_steps.reopen(deps.uow_factory(), closed, data["reason"]))

    return {
        wf.CLOSE: close_occurrence,
        wf.NEXT: next_occurrence,
        wf.CREATE_NEXT: create_next_occurrence,
        wf.SYNC_REMINDERS: sync_reminders,
        wf.REOPEN: reopen_occurrence,
    }
