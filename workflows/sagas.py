"""The workflow worker and client for the completion saga, and the Completions port on it.

A sidecar that cannot be reached surfaces as DependencyUnavailable (workflows/unreachable.py);
the client and worker reconnect within a second of its return (workflows/reconnect.py)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, timedelta

from dapr.actor import ActorProxyFactory
from dapr.ext.workflow import WorkflowStatus
from dapr.ext.workflow.aio import DaprWorkflowClient
from grpc import StatusCode
from grpc.aio import AioRpcError

from domain.errors import CompletionFailed, Conflict, NotFound
from domain.saga_runs import HistoryItem, kind_of
from domain.tasks import Status
from service import saga_runs as runs
from service.completion import Pending, after_saga, before_saga, operation_id
from service.occurrences import Advanced, CloseRequest
from service.schemas import Completion
from store.uow import SqlUnitOfWork
from telemetry.metrics import SAGAS_STARTED
from workflows import complete_occurrence as wf
from workflows.activities import ActivityDeps, activities
from workflows.reconnect import workflow_client
from workflows.unreachable import sidecar_call
from workflows.worker import LoopWorker

log = logging.getLogger(__name__)
SIDECAR_HOST = "127.0.0.1"
FINISHED = {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.TERMINATED}
# an attempt that ended this way is over: the occurrence is open again, or was never closed
GAVE_UP = {WorkflowStatus.FAILED, WorkflowStatus.TERMINATED}


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
        self.worker: LoopWorker | None = None
        self.client: DaprWorkflowClient | None = None

    async def start_worker(self) -> None:
        worker = LoopWorker(SIDECAR_HOST, self.grpc_port)
        worker.register_workflow(wf.complete_occurrence, name=wf.NAME)
        for name, fn in activities(ActivityDeps(self.uow_factory, self.proxies)).items():
            worker.register_activity(fn, name=name)
        await worker.start()
        self.worker = worker
        self.client = workflow_client(SIDECAR_HOST, self.grpc_port)

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()

    async def start(self, user_id: str, task_id: uuid.UUID, status: Status) -> str:
        """Start (or join) the saga without waiting for it."""
        request = CloseRequest(user_id=user_id, task_id=task_id, status=status)
        async with sidecar_call("starting the completion saga"):
            return await self._start_or_join(request)

    async def finish(
        self, user_id: str, task_id: uuid.UUID, status: Status, key: str | None
    ) -> Completion | Pending:
        request = CloseRequest(user_id=user_id, task_id=task_id, status=status)
        done = await before_saga(self.uow_factory(), request, key)
        if done is not None:
            return done
        async with sidecar_call("running the completion saga"):
            instance = await self._start_or_join(request)
            try:
                state = await self.client.wait_for_workflow_completion(
                    instance, timeout_in_seconds=int(self.wait.total_seconds())
                )
            except TimeoutError:
                return Pending(operation_id=instance)
        if state is None or state.runtime_status not in FINISHED:
            return Pending(operation_id=instance)
        return await after_saga(self.uow_factory(), request, key, self._result(state, status))

    async def _start_or_join(self, request: CloseRequest) -> str:
        """The instance of the occurrence's current attempt, scheduled unless it exists.

        Compensation reopens an occurrence, so each attempt at closing it needs an instance
        id of its own: attempts are numbered (service.completion.operation_id), and the
        current one is the first whose instance has not given up. An attempt is looked up
        before it is scheduled, because daprd (1.18, 1.19) schedules over an instance that
        finished, resetting its history (pkg/actors/targets/workflow/orchestrator/create.go,
        createIfCompleted), and refuses only one that is still running. Failed instances
        are never reused, so the numbers only grow, and concurrent requests meet on the same
        id: one schedules it, the others see it (or get ALREADY_EXISTS) and join.
        Not the occurrence's version as a suffix: a request that arrives after the attempt
        closed the occurrence (and before it created the next one) sees a later version and
        could not name the attempt it must join; and an attempt that failed before closing
        leaves the version as it was, so its retry would rejoin the failed instance.
        Not purging before reuse: the failed attempt's history, which its 202 pointed at,
        would go, and a request that saw it fail could purge the attempt that replaced it."""
        payload = request.model_dump(mode="json")
        attempt = 1
        while True:
            instance = operation_id(request.task_id, attempt)
            state = await self.client.get_workflow_state(instance, fetch_payloads=False)
            if state is None:
                try:
                    await self.client.schedule_new_workflow(
                        wf.NAME, input=payload, instance_id=instance
                    )
                except AioRpcError as exc:
                    if exc.code() != StatusCode.ALREADY_EXISTS:
                        raise
                else:
                    SAGAS_STARTED.labels(kind_of(request.status)).inc()
                    await self._scheduled(request, attempt)
                    return instance
                state = await self.client.get_workflow_state(instance, fetch_payloads=False)
            if state is None or state.runtime_status not in GAVE_UP:
                log.debug("joining saga %s", instance)
                return instance
            attempt += 1

    async def _scheduled(self, request: CloseRequest, attempt: int) -> None:
        """The read model's pending run, written after the schedule, so a run is never
        listed that the runtime lacks. Lost to a crash or a database error, it is the first
        step's to write (the step's write is in the step's transaction), so the completion
        goes on."""
        try:
            async with self.uow_factory() as uow:
                await runs.scheduled(uow, request, attempt)
                await uow.commit()
        except Exception:
            log.warning("saga %s: its pending run was not recorded", request.task_id, exc_info=True)

    @staticmethod
    def _result(state, status: Status) -> Completion:
        if state.runtime_status != WorkflowStatus.COMPLETED:
            message = _failure_message(state) or "the saga did not complete"
            raise CompletionFailed(f"{message}; the occurrence is open again")
        advanced = Advanced.model_validate_json(state.serialized_output or "{}")
        if advanced.refused == "not_found":
            raise NotFound(advanced.reason)
        if advanced.refused == "conflict" or advanced.completion is None:
            raise Conflict(advanced.reason or "the task was closed by a concurrent request")
        if advanced.completion.task.status != status:
            raise Conflict(
                f"the task was {advanced.completion.task.status} by a concurrent request"
            )
        return advanced.completion

    # ---- service.saga_actions.SagaControl: an operator's hand on an instance ----

    async def terminate(self, instance_id: str, reason: str) -> None:
        async with sidecar_call("terminating a saga"):
            await self.client.terminate_workflow(instance_id, output={"terminated": reason})

    async def suspend(self, instance_id: str) -> None:
        async with sidecar_call("suspending a saga"):
            await self.client.pause_workflow(instance_id)

    async def resume(self, instance_id: str) -> None:
        async with sidecar_call("resuming a saga"):
            await self.client.resume_workflow(instance_id)

    async def purge(self, instance_id: str) -> None:
        async with sidecar_call("purging a saga"):
            await self.client.purge_workflow(instance_id)

    async def retry(self, user_id: str, task_id: uuid.UUID, status: Status) -> str:
        """The next attempt: the current one gave up, so _start_or_join numbers a new one."""
        return await self.start(user_id, task_id, status)

    async def history(self, instance_id: str) -> list[HistoryItem] | None:
        async with sidecar_call("reading a saga's history"):
            try:
                events = await self.client.get_workflow_history(instance_id)
            except AioRpcError as exc:
                if exc.code() == StatusCode.NOT_FOUND:
                    return None
                raise
        return [
            HistoryItem(
                event_id=e.event_id,
                at=e.timestamp.replace(tzinfo=UTC),  # the SDK gives naive UTC
                kind=e.event_type.name,
                name=e.name,
                task_scheduled_id=e.task_scheduled_id,
                failure=e.failure_details.message if e.failure_details else None,
            )
            for e in events
        ]

    async def payloads(self, instance_id: str) -> tuple[str | None, str | None] | None:
        async with sidecar_call("reading a saga's input and output"):
            state = await self.client.get_workflow_state(instance_id, fetch_payloads=True)
        if state is None:
            return None
        return state.serialized_input, state.serialized_output

    async def runtime_status(self, instance: str) -> tuple[str, str | None] | None:
        """The runtime's status name and failure message for `instance`; None if it has
        none (service.saga_runs.reconcile)."""
        async with sidecar_call("reading a saga's state"):
            state = await self.client.get_workflow_state(instance, fetch_payloads=False)
        if state is None:
            return None
        return state.runtime_status.name, _failure_message(state)

    async def operation(self, instance: str) -> dict:
        async with sidecar_call("reading the operation"):
            state = await self.client.get_workflow_state(instance, fetch_payloads=True)
        if state is None:
            return {"operation_id": instance, "status": "UNKNOWN"}
        return {
            "operation_id": instance,
            "status": state.runtime_status.name,
            "output": state.serialized_output,
        }


def _failure_message(state) -> str | None:
    """The message of a failed instance's failure details, if it has any."""
    return getattr(getattr(state, "failure_details", None), "message", None)
