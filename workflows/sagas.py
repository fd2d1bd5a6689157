"""The workflow worker and client for the completion saga, and the Completions port on it."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from dapr.actor import ActorProxyFactory
from dapr.ext.workflow import WorkflowRuntime, WorkflowStatus
from dapr.ext.workflow.aio import DaprWorkflowClient
from grpc import StatusCode
from grpc.aio import AioRpcError

from domain.errors import CompletionFailed, Conflict
from domain.tasks import Status
from service import tasks
from service.completion import Pending
from service.schemas import Completion
from store.uow import SqlUnitOfWork
from workflows import complete_occurrence as wf
from workflows.activities import ActivityDeps, activities

log = logging.getLogger(__name__)
FINISHED = {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.TERMINATED}


class Sagas:
    def __init__(
        self,
        grpc_port: int,
        uow_factory: Callable[[], SqlUnitOfWork],
        proxies: ActorProxyFactory,
        *,
        wait: timedelta = timedelta(seconds=5),
    ) -> None:
        self.grpc_port = grpc_port
        self.uow_factory = uow_factory
        self.proxies = proxies
        self.wait = wait
        self.runtime: WorkflowRuntime | None = None
        self.client: DaprWorkflowClient | None = None

    async def start_worker(self) -> None:
        runtime = WorkflowRuntime(host="127.0.0.1", port=str(self.grpc_port))
        runtime.register_workflow(wf.complete_occurrence, name=wf.NAME)
        deps = ActivityDeps(asyncio.get_running_loop(), self.uow_factory, self.proxies)
        for name, fn in activities(deps).items():
            runtime.register_activity(fn, name=name)
        await asyncio.to_thread(runtime.start)
        self.runtime = runtime
        self.client = DaprWorkflowClient(host="127.0.0.1", port=str(self.grpc_port))

    async def stop(self) -> None:
        if self.runtime is not None:
            await asyncio.to_thread(self.runtime.shutdown)

    async def start(self, user_id: str, task_id: uuid.UUID, status: Status) -> str:
        """Start (or join) the saga without waiting for it."""
        instance = wf.instance_id(str(task_id))
        await self._start_or_join(instance, user_id, task_id, status)
        return instance

    async def finish(
        self, user_id: str, task_id: uuid.UUID, status: Status, key: str | None
    ) -> Completion | Pending:
        done = await tasks.begin_completion(self.uow_factory(), user_id, task_id, status, key)
        if done is not None:
            return done
        instance = wf.instance_id(str(task_id))
        await self._start_or_join(instance, user_id, task_id, status)
        try:
            state = await self.client.wait_for_workflow_completion(
                instance, timeout_in_seconds=int(self.wait.total_seconds())
            )
        except TimeoutError:
            return Pending(operation_id=instance)
        if state is None or state.runtime_status not in FINISHED:
            return Pending(operation_id=instance)
        return await self._result(state, user_id, task_id, status, key)

    async def _start_or_join(
        self, instance: str, user_id: str, task_id: uuid.UUID, status: Status
    ) -> None:
        """Schedule the saga; an instance already running for this occurrence is joined.
        A finished instance's id is reused (Dapr allows it), which is what a reopened
        occurrence needs."""
        request = {"user_id": user_id, "task_id": str(task_id), "status": status.value}
        try:
            await self.client.schedule_new_workflow(wf.NAME, input=request, instance_id=instance)
        except AioRpcError as exc:
            if exc.code() != StatusCode.ALREADY_EXISTS:
                raise
            log.debug("joining running saga %s", instance)

    async def _result(
        self, state, user_id: str, task_id: uuid.UUID, status: Status, key: str | None
    ) -> Completion:
        if state.runtime_status != WorkflowStatus.COMPLETED:
            detail = getattr(state, "failure_details", None)
            message = getattr(detail, "message", None) or "the saga did not complete"
            raise CompletionFailed(f"{message}; the occurrence is open again")
        output = state.serialized_output
        result = json.loads(output) if output else {}
        if result.get("status") != status.value:
            raise Conflict(f"the task was {result.get('status')} by a concurrent request")
        next_id = result.get("next_task_id")
        return await tasks.finish_completion(
            self.uow_factory(),
            user_id,
            task_id,
            uuid.UUID(next_id) if next_id else None,
            status,
            key,
        )

    async def operation(self, instance: str) -> dict:
        state = await self.client.get_workflow_state(instance, fetch_payloads=True)
        if state is None:
            return {"operation_id": instance, "status": "UNKNOWN"}
        return {
            "operation_id": instance,
            "status": state.runtime_status.name,
            "output": state.serialized_output,
        }
