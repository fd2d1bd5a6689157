"""The saga's activities. Each runs service rules (service.occurrences) in transactions of
its own, and asks the series actor for the next occurrence.
They run on the app's loop (workflows/worker.py), beside the database engine and the actor
clients they use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dapr.actor import ActorProxyFactory
from dapr.ext.workflow import WorkflowActivityContext

from actors.clients import series_actor
from domain.errors import Conflict, NotFound
from domain.saga_runs import Ended, Step
from service import occurrences as rules
from service import saga_runs as runs
from store.uow import SqlUnitOfWork
from telemetry.metrics import SAGA_DURATION, SAGAS_FINISHED
from workflows import complete_occurrence as wf

ACTIVITY_TIMEOUT = 60.0


def count_end(ended: Ended | None) -> None:
    """After the commit that ended the run: each run is counted once, by the step that
    moved its read model (a run the reconcile settles is not counted here)."""
    if ended is not None:
        SAGAS_FINISHED.labels(ended.kind, ended.status).inc()
        SAGA_DURATION.labels(ended.kind, ended.status).observe(ended.seconds)


@dataclass(frozen=True)
class ActivityDeps:
    uow_factory: Callable[[], SqlUnitOfWork]
    proxies: ActorProxyFactory


def activities(deps: ActivityDeps) -> dict[str, Callable[[WorkflowActivityContext, Any], Any]]:
    async def advance(request: rules.CloseRequest, instance: str) -> rules.Advanced:
        """Close (one transaction), ask the series actor, record the next (another). The
        run's read model moves in the same transactions (service.saga_runs)."""
        try:
            async with deps.uow_factory() as uow:
                await runs.stepping(uow, request, instance, Step.ADVANCE)
                closed, row = await rules.close(uow, request)
                ended = None
                if closed.done:
                    result = await rules.completion(
                        uow, request.user_id, request.task_id, closed.next_id
                    )
                    ended = await runs.completed(uow, instance, closed.next_id)
                await uow.commit()
            count_end(ended)
        except (NotFound, Conflict) as refused:
            async with deps.uow_factory() as uow:  # the saga completes, refusing
                ended = await runs.completed(uow, instance, None)
                await uow.commit()
            count_end(ended)
            kind = "not_found" if isinstance(refused, NotFound) else "conflict"
            return rules.Advanced(refused=kind, reason=str(refused))
        if closed.done:
            return rules.Advanced(completion=result)
        raw = await series_actor(deps.proxies, str(closed.series_id)).NextAfter(
            closed.next_request.model_dump(mode="json")
        )
        answer = rules.NextAnswer.model_validate(raw)
        async with deps.uow_factory() as uow:
            result = await rules.record_next(uow, closed, row, answer)
            ended = await runs.completed(uow, instance, result.next.id if result.next else None)
            await uow.commit()
        count_end(ended)
        return rules.Advanced(completion=result)

    async def advance_occurrence(ctx: WorkflowActivityContext, request: dict) -> dict:
        close = rules.CloseRequest.model_validate(request)
        advanced = await asyncio.wait_for(advance(close, ctx.workflow_id), ACTIVITY_TIMEOUT)
        return advanced.model_dump(mode="json")

    async def reopen(undo: rules.ReopenRequest, instance: str) -> None:
        async with deps.uow_factory() as uow:
            await rules.reopen(uow, undo)
            ended = await runs.failed(uow, instance, Step.ADVANCE, undo.reason)
            await uow.commit()
        count_end(ended)

    async def reopen_occurrence(ctx: WorkflowActivityContext, data: dict) -> None:
        undo = rules.ReopenRequest.model_validate(data)
        await asyncio.wait_for(reopen(undo, ctx.workflow_id), ACTIVITY_TIMEOUT)

    return {wf.ADVANCE: advance_occurrence, wf.REOPEN: reopen_occurrence}
