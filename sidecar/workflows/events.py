"""History events and instance states in Dapr's forked durabletask protocol.

Only the stubs vendored in the Dapr SDK are used: the upstream `durabletask` package's messages
have other field numbers and cannot even be loaded beside these.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dapr.ext.workflow._durabletask.internal.protos as pb
from google.protobuf import timestamp_pb2, wrappers_pb2

PENDING = pb.ORCHESTRATION_STATUS_PENDING
RUNNING = pb.ORCHESTRATION_STATUS_RUNNING
SUSPENDED = pb.ORCHESTRATION_STATUS_SUSPENDED
COMPLETED = pb.ORCHESTRATION_STATUS_COMPLETED
FAILED = pb.ORCHESTRATION_STATUS_FAILED
TERMINATED = pb.ORCHESTRATION_STATUS_TERMINATED
CONTINUED_AS_NEW = pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW
STALLED = pb.ORCHESTRATION_STATUS_STALLED

# An instance in one of these states takes no more events; its id may be reused.
TERMINAL = frozenset({COMPLETED, FAILED, TERMINATED, pb.ORCHESTRATION_STATUS_CANCELED})

# The SDK's "wait forever" timer for wait_for_external_event: recorded, never fired.
OPTIONAL_TIMER_SECONDS = 253402300799


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp(at: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(at)
    return ts


def to_datetime(ts: timestamp_pb2.Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def string_value(value: str | None) -> wrappers_pb2.StringValue | None:
    return None if value is None else wrappers_pb2.StringValue(value=value)


def optional_string(holder, field: str) -> str | None:
    """The value of a StringValue field, or None when it is unset."""
    return getattr(holder, field).value if holder.HasField(field) else None


def event(at: datetime, event_id: int = -1, **kind) -> pb.HistoryEvent:
    return pb.HistoryEvent(eventId=event_id, timestamp=timestamp(at), **kind)


def workflow_started(at: datetime) -> pb.HistoryEvent:
    return event(at, workflowStarted=pb.WorkflowStartedEvent())


def execution_started(
    at: datetime,
    *,
    name: str,
    instance_id: str,
    execution_id: str,
    input: wrappers_pb2.StringValue | None,
    parent: pb.ParentInstanceInfo | None = None,
    scheduled_start: timestamp_pb2.Timestamp | None = None,
    tags: dict[str, str] | None = None,
    trace: pb.TraceContext | None = None,
) -> pb.HistoryEvent:
    return event(
        at,
        executionStarted=pb.ExecutionStartedEvent(
            parentTraceContext=trace,
            name=name,
            input=input,
            workflowInstance=pb.WorkflowInstance(
                instanceId=instance_id, executionId=string_value(execution_id)
            ),
            parentInstance=parent,
            scheduledStartTimestamp=scheduled_start,
            tags=tags,
        ),
    )


def delivered(queued: pb.HistoryEvent, at: datetime) -> pb.HistoryEvent:
    """An inbox event as a turn hands it over (and history keeps it).

    A timerFired is built when its timer is created; daprd restamps it when it fires, so its
    history timestamp is the firing time (pkg/actors/targets/workflow/orchestrator/run.go).
    Other events keep the time they were raised.
    """
    if not queued.HasField("timerFired"):
        return queued
    fired = pb.HistoryEvent()
    fired.CopyFrom(queued)
    fired.timestamp.CopyFrom(timestamp(at))
    return fired


def kind_of(ev: pb.HistoryEvent) -> str:
    return ev.WhichOneof("eventType")


def is_optional_timer(fire_at: timestamp_pb2.Timestamp) -> bool:
    return fire_at.seconds >= OPTIONAL_TIMER_SECONDS


def status_after(status: int, new_events: list[pb.HistoryEvent]) -> int:
    """The runtime status once `new_events` have been handed to the workflow."""
    for ev in new_events:
        kind = kind_of(ev)
        if kind == "executionStarted" or (kind == "executionResumed" and status == SUSPENDED):
            status = RUNNING
        elif kind == "executionSuspended":
            status = SUSPENDED
    return status


def failure(error_type: str, message: str) -> pb.TaskFailureDetails:
    return pb.TaskFailureDetails(errorType=error_type, errorMessage=message)
