"""The workflow worker, on the app's own event loop.

dapr-ext-workflow's worker (durabletask's TaskHubGrpcWorker) runs a loop of its own on a
thread of its own: a reader thread for the work-item stream, a queue polled every 100 ms
through the default executor, a thread pool for orchestrator turns, and the blocking stub
for every result. With the saga down to two turns and one activity, that machinery was
about 30 % of the app's CPU per saga (bench/RESULTS.md, issue 10), and the activity had to
hop back to the app's loop, where its database engine and actor clients live.

This worker speaks the same protocol (TaskHubSidecarService: Hello, GetWorkItems,
CompleteOrchestratorTask, CompleteActivityTask) over grpc.aio on the app's loop, and
keeps the SDK for everything that decides what a workflow does: workflows and activities
are registered through the SDK's WorkflowRuntime (its DaprWorkflowContext and input
wrappers), and each turn is replayed by its _OrchestrationExecutor. Those are private to
dapr-ext-workflow 1.19, which pyproject.toml pins; `_sdk_parts` refuses to start if an
upgrade moved them.

The stream asks for full histories (no WORKER_CAPABILITY_STATEFUL_HISTORY), so no history
cache is needed. A lost stream is opened again as soon as the sidecar answers a Hello,
knocked every 250 ms on a channel whose reconnect backoff is capped (workflows/reconnect.py);
work items in flight when it broke are dispatched again by the sidecar, which is why every
activity is idempotent.

Each turn and each activity is a span whose parent is the trace context the sidecar hands
over (the instance's `parentTraceContext` from its start, an activity's from its
scheduling), so the saga's steps join the trace of the request that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
from dapr.conf import settings
from dapr.ext.workflow import WorkflowRuntime
from dapr.ext.workflow._durabletask import worker as sdk
from dapr.ext.workflow._durabletask.internal import helpers as ph
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as stubs
from dapr.ext.workflow._durabletask.internal import protos as pb
from dapr.ext.workflow._durabletask.internal.shared import is_async_callable
from dapr.ext.workflow.propagation import PropagatedHistory
from google.protobuf import empty_pb2
from opentelemetry.trace import SpanKind

from telemetry import tracing
from workflows.reconnect import RECONNECT_BACKOFF, sdk_logging

log = logging.getLogger(__name__)
KNOCK_INTERVAL_S = 0.25
HELLO_TIMEOUT_S = 1.0
RESULT_TIMEOUT_S = 30.0
NOT_YET = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# work items run at once; beyond it the stream is read no further until one finishes
MAX_IN_FLIGHT = 100
# the executor logs each turn at INFO; that is per saga, not news
_executor_log = logging.getLogger("tickler.workflow.replay")
_executor_log.setLevel(logging.WARNING)


def _sdk_parts(runtime: WorkflowRuntime) -> Any:
    registry = getattr(getattr(runtime, "_WorkflowRuntime__worker", None), "_registry", None)
    executors = ("_OrchestrationExecutor", "_ActivityExecutor")
    if not hasattr(registry, "get_activity") or not all(hasattr(sdk, e) for e in executors):
        raise RuntimeError(
            "dapr-ext-workflow no longer keeps its registry where workflows/worker.py looks; "
            "update it for this SDK version"
        )
    return registry


class LoopWorker:
    """Receives work items from the sidecar and completes them, on the running loop."""

    # the SDK's worker threads could block, so it needed a semaphore per kind; here a turn
    # never awaits and an activity awaits only its own I/O

    def __init__(self, host: str, port: int) -> None:
        self.address = f"{host}:{port}"
        # a registry; never started
        self.runtime = WorkflowRuntime(host=host, port=str(port), logger_options=sdk_logging())
        self.registry = _sdk_parts(self.runtime)
        self.activities = sdk._ActivityExecutor(_executor_log)
        self.metadata = (
            (("dapr-api-token", settings.DAPR_API_TOKEN),) if settings.DAPR_API_TOKEN else None
        )
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()
        self.channel: grpc.aio.Channel | None = None
        self.task: asyncio.Task[None] | None = None

    def register_workflow(self, fn: Callable[..., Any], name: str) -> None:
        self.runtime.register_workflow(fn, name=name)

    def register_activity(self, fn: Callable[..., Any], name: str) -> None:
        if not is_async_callable(fn):
            raise TypeError(f"activity {name} must be async: it runs on the app's loop")
        self.runtime.register_activity(fn, name=name)

    async def start(self, ready_within: float = 30.0) -> None:
        """Returns once the first stream is open, as the SDK's runtime does."""
        self.channel = grpc.aio.insecure_channel(self.address, options=list(RECONNECT_BACKOFF))
        self.task = asyncio.create_task(self._run(stubs.TaskHubSidecarServiceStub(self.channel)))
        try:
            await asyncio.wait_for(self.connected.wait(), ready_within)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(f"no workflow stream from the sidecar at {self.address}") from None

    async def stop(self) -> None:
        for task in (self.task, *self.in_flight):
            if task is not None:
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*(t for t in (self.task, *self.in_flight) if t is not None))
        if self.channel is not None:
            await self.channel.close()

    async def _run(self, stub: stubs.TaskHubSidecarServiceStub) -> None:
        request = pb.GetWorkItemsRequest(capabilities=[pb.WORKER_CAPABILITY_HEALTH_PING])
        while True:
            await self._knock(stub)
            try:
                stream = stub.GetWorkItems(request, metadata=self.metadata)
                # ready as the SDK's worker is: the sidecar answered and the stream is asked
                # for (a sidecar may send nothing on it, headers included, until work comes)
                self.connected.set()
                log.info("workflow worker connected to %s", self.address)
                async for item in stream:
                    await self.slots.acquire()
                    task = asyncio.create_task(self._handle(stub, item))
                    self.in_flight.add(task)
                    task.add_done_callback(self._done)
                log.info("workflow stream from %s ended; opening another", self.address)
            except grpc.aio.AioRpcError as exc:
                log.warning("workflow stream from %s lost: %s", self.address, exc.code())
            self.connected.clear()

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("workflow work item failed", exc_info=task.exception())

    async def _knock(self, stub: stubs.TaskHubSidecarServiceStub) -> None:
        """Until the sidecar answers a Hello; refused and unanswered knocks are retried."""
        while True:
            try:
                await stub.Hello(empty_pb2.Empty(), timeout=HELLO_TIMEOUT_S, metadata=self.metadata)
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in NOT_YET:
                    log.warning("the sidecar refused the workflow worker's Hello: %s", exc.code())
            await asyncio.sleep(KNOCK_INTERVAL_S)

    async def _handle(self, stub: stubs.TaskHubSidecarServiceStub, item: Any) -> None:
        kind = item.WhichOneof("request")
        try:
            if kind == "workflowRequest":
                response = self._turn(item.workflowRequest, item.completionToken)
                await stub.CompleteOrchestratorTask(
                    response, timeout=RESULT_TIMEOUT_S, metadata=self.metadata
                )
            elif kind == "activityRequest":
                response = await self._activity(item.activityRequest, item.completionToken)
                await stub.CompleteActivityTask(
                    response, timeout=RESULT_TIMEOUT_S, metadata=self.metadata
                )
        except grpc.aio.AioRpcError as exc:
            # the stream that brought it is gone or going: the sidecar dispatches it again
            log.info("a workflow result went undelivered (%s); it is redispatched", exc.code())

    def _turn(self, req: Any, token: Any) -> Any:
        """One orchestrator turn, replayed by the SDK's executor (pure: no I/O)."""
        with tracing.span_from(f"workflow {_name(req)}", _started_trace(req)):
            return self._replay(req, token)

    def _replay(self, req: Any, token: Any) -> Any:
        try:
            result = sdk._OrchestrationExecutor(self.registry, _executor_log).execute(
                req.instanceId,
                list(req.pastEvents),
                req.newEvents,
                propagated_history=_propagated(req),
            )
            version = None
            if result.version_name or result.patches:
                version = pb.WorkflowVersion(name=result.version_name or "")
                version.patches.extend(result.patches)
            return pb.WorkflowResponse(
                instanceId=req.instanceId,
                actions=result.actions,
                customStatus=ph.get_string_value(result.encoded_custom_status),
                completionToken=token,
                version=version,
            )
        except Exception as exc:  # the executor's own failure fails the instance, as the SDK's
            log.exception("workflow instance %s could not be executed", req.instanceId)
            failed = ph.new_complete_workflow_action(
                -1, pb.ORCHESTRATION_STATUS_FAILED, "", ph.new_failure_details(exc)
            )
            return pb.WorkflowResponse(
                instanceId=req.instanceId, actions=[failed], completionToken=token
            )

    async def _activity(self, req: Any, token: Any) -> Any:
        parent = req.parentTraceContext.traceParent if req.HasField("parentTraceContext") else None
        with tracing.span_from(f"activity {req.name}", parent, kind=SpanKind.CONSUMER):
            return await self._run_activity(req, token)

    async def _run_activity(self, req: Any, token: Any) -> Any:
        instance = req.workflowInstance.instanceId
        try:
            result = await self.activities.execute_async(
                self.registry.get_activity(req.name),
                instance,
                req.name,
                req.taskId,
                req.input.value,
                req.taskExecutionId,
                propagated_history=_propagated(req),
            )
        except Exception as exc:  # the activity failed: the orchestrator decides (retry, undo)
            return pb.ActivityResponse(
                instanceId=instance,
                taskId=req.taskId,
                failureDetails=ph.new_failure_details(exc),
                completionToken=token,
            )
        return pb.ActivityResponse(
            instanceId=instance,
            taskId=req.taskId,
            result=ph.get_string_value(result),
            completionToken=token,
        )


def _started(req: Any) -> Any:
    """The instance's ExecutionStartedEvent (first in its history, or new in this turn)."""
    for event in (*req.pastEvents[:1], *req.newEvents):
        if event.HasField("executionStarted"):
            return event.executionStarted
    return None


def _name(req: Any) -> str:
    started = _started(req)
    return started.name if started is not None else "turn"


def _started_trace(req: Any) -> str | None:
    started = _started(req)
    if started is None or not started.HasField("parentTraceContext"):
        return None
    return started.parentTraceContext.traceParent or None


def _propagated(req: Any) -> PropagatedHistory | None:
    if req.HasField("propagatedHistory"):
        return PropagatedHistory.from_proto(req.propagatedHistory)
    return None
