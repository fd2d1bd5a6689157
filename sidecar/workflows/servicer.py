"""`TaskHubSidecarService` over grpc.aio: each RPC maps onto one WorkflowEngine operation.

RerunWorkflowFromEvent and CompleteWorkflowTask stay UNIMPLEMENTED (the base class answers);
the Python SDK's worker and client never need them for Tickler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2_grpc as stubs
import dapr.ext.workflow._durabletask.internal.protos as pb
import grpc
from google.protobuf import empty_pb2, wrappers_pb2

from . import events as ev
from .errors import WorkflowError
from .store import Instance, InstanceFilter

if TYPE_CHECKING:
    from .engine import WorkflowEngine


def _state(instance: Instance, payloads: bool) -> pb.WorkflowState:
    state = pb.WorkflowState(
        instanceId=instance.instance_id,
        name=instance.name,
        workflowStatus=instance.status,
        createdTimestamp=ev.timestamp(instance.created_at),
        lastUpdatedTimestamp=ev.timestamp(instance.updated_at),
        executionId=ev.string_value(instance.execution_id),
        parentInstanceId=ev.string_value(instance.parent_instance_id),
    )
    if instance.started_at is not None:
        state.startedAt.CopyFrom(ev.timestamp(instance.started_at))
    if instance.completed_at is not None:
        state.completedTimestamp.CopyFrom(ev.timestamp(instance.completed_at))
    if instance.failure is not None:
        state.failureDetails.ParseFromString(instance.failure)
    if payloads:
        for name in ("input", "output", "custom_status"):
            value = getattr(instance, name)
            if value is not None:
                field = "customStatus" if name == "custom_status" else name
                getattr(state, field).CopyFrom(wrappers_pb2.StringValue(value=value))
    return state


def _response(instance: Instance | None, payloads: bool) -> pb.GetInstanceResponse:
    if instance is None:
        return pb.GetInstanceResponse(exists=False)
    return pb.GetInstanceResponse(exists=True, workflowState=_state(instance, payloads))


def _optional(holder, field: str):
    return getattr(holder, field) if holder.HasField(field) else None


class WorkflowServicer(stubs.TaskHubSidecarServiceServicer):
    def __init__(self, engine: WorkflowEngine):
        self.engine = engine

    async def _call(self, context: grpc.aio.ServicerContext, operation):
        await self.engine.ready()
        try:
            return await operation
        except WorkflowError as refused:
            await context.abort(refused.code, str(refused))

    async def Hello(self, request, context):
        return empty_pb2.Empty()

    async def StartInstance(self, request: pb.CreateInstanceRequest, context):
        instance_id = await self._call(
            context, self.engine.start_instance(request, _caller_trace(context))
        )
        return pb.CreateInstanceResponse(instanceId=instance_id)

    async def GetInstance(self, request: pb.GetInstanceRequest, context):
        instance = await self._call(context, self.engine.get_instance(request.instanceId))
        return _response(instance, request.getInputsAndOutputs)

    async def WaitForInstanceStart(self, request: pb.GetInstanceRequest, context):
        instance = await self._call(
            context, self.engine.wait_for(request.instanceId, lambda i: i.status != ev.PENDING)
        )
        return _response(instance, request.getInputsAndOutputs)

    async def WaitForInstanceCompletion(self, request: pb.GetInstanceRequest, context):
        instance = await self._call(
            context, self.engine.wait_for(request.instanceId, lambda i: not i.active)
        )
        return _response(instance, request.getInputsAndOutputs)

    async def RaiseEvent(self, request: pb.RaiseEventRequest, context):
        await self._call(
            context,
            self.engine.raise_event(request.instanceId, request.name, _optional(request, "input")),
        )
        return pb.RaiseEventResponse()

    async def TerminateInstance(self, request: pb.TerminateRequest, context):
        await self._call(
            context,
            self.engine.terminate(
                request.instanceId, _optional(request, "output"), request.recursive
            ),
        )
        return pb.TerminateResponse()

    async def SuspendInstance(self, request: pb.SuspendRequest, context):
        await self._call(
            context, self.engine.suspend(request.instanceId, _optional(request, "reason"))
        )
        return pb.SuspendResponse()

    async def ResumeInstance(self, request: pb.ResumeRequest, context):
        await self._call(
            context, self.engine.resume(request.instanceId, _optional(request, "reason"))
        )
        return pb.ResumeResponse()

    async def PurgeInstances(self, request: pb.PurgeInstancesRequest, context):
        if request.WhichOneof("request") == "purgeInstanceFilter":
            f = request.purgeInstanceFilter
            where = InstanceFilter(
                statuses=tuple(f.runtimeStatus),
                created_from=ev.to_datetime(f.createdTimeFrom)
                if f.HasField("createdTimeFrom")
                else None,
                created_to=ev.to_datetime(f.createdTimeTo) if f.HasField("createdTimeTo") else None,
            )
            operation = self.engine.purge(
                where=where, recursive=request.recursive, force=request.force
            )
        else:
            operation = self.engine.purge(
                instance_id=request.instanceId, recursive=request.recursive, force=request.force
            )
        deleted = await self._call(context, operation)
        return pb.PurgeInstancesResponse(
            deletedInstanceCount=deleted, isComplete=wrappers_pb2.BoolValue(value=True)
        )

    async def GetWorkItems(
        self, request: pb.GetWorkItemsRequest, context
    ) -> AsyncIterator[pb.WorkItem]:
        await self.engine.ready()
        async for item in self.engine.work_items(request):
            yield item

    async def CompleteActivityTask(self, request: pb.ActivityResponse, context):
        await self._call(context, self.engine.complete_activity(request))
        return pb.CompleteTaskResponse()

    async def CompleteOrchestratorTask(self, request: pb.WorkflowResponse, context):
        await self._call(context, self.engine.complete_turn(request))
        return pb.CompleteTaskResponse()

    async def ListInstanceIDs(self, request: pb.ListInstanceIDsRequest, context):
        ids, token = await self._call(
            context,
            self.engine.list_instance_ids(
                request.continuationToken or None,
                request.pageSize if request.HasField("pageSize") and request.pageSize else None,
            ),
        )
        return pb.ListInstanceIDsResponse(instanceIds=ids, continuationToken=token)

    async def GetInstanceHistory(self, request: pb.GetInstanceHistoryRequest, context):
        events = await self._call(context, self.engine.history(request.instanceId))
        return pb.GetInstanceHistoryResponse(events=events)


def _caller_trace(context: grpc.aio.ServicerContext) -> pb.TraceContext | None:
    """The W3C context the call came in (its `traceparent` metadata), as daprd's gRPC
    server reads it."""
    headers = dict(context.invocation_metadata() or ())
    if not headers.get("traceparent"):
        return None
    state = headers.get("tracestate")
    return pb.TraceContext(
        traceParent=headers["traceparent"],
        traceState=ev.string_value(state) if state else None,
    )
