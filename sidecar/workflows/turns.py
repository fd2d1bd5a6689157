"""One orchestrator turn: the events handed to the workflow and what its actions lead to.

`apply_actions` is pure: it turns the worker's response into history to append, a new
status, and the work the turn creates (activities, timers, messages to other instances,
child instances, a fresh execution for continue-as-new). The engine persists the outcome in
one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import dapr.ext.workflow._durabletask.internal.protos as pb
from google.protobuf import wrappers_pb2

from . import events as ev
from .store import InboxRow, Instance


@dataclass
class Turn:
    instance: Instance
    token: str
    history: list[pb.HistoryEvent]
    inbox: list[InboxRow]
    new_events: list[pb.HistoryEvent]

    def started(self) -> pb.ExecutionStartedEvent | None:
        for e in (*self.history, *self.new_events):
            if e.HasField("executionStarted"):
                return e.executionStarted
        return None

    def request(self) -> pb.WorkItem:
        return pb.WorkItem(
            workflowRequest=pb.WorkflowRequest(
                instanceId=self.instance.instance_id,
                executionId=ev.string_value(self.instance.execution_id),
                pastEvents=self.history,
                newEvents=self.new_events,
            ),
            completionToken=self.token,
        )


@dataclass
class Outcome:
    appended: list[pb.HistoryEvent]
    status: int
    custom_status: str | None
    output: str | None = None
    failure: pb.TaskFailureDetails | None = None
    activities: list[pb.HistoryEvent] = field(default_factory=list)
    timers: list[tuple[pb.HistoryEvent, datetime]] = field(default_factory=list)
    messages: list[tuple[str, pb.HistoryEvent]] = field(default_factory=list)
    children: list[pb.HistoryEvent] = field(default_factory=list)
    # continue-as-new: the new execution's first events (its history starts empty)
    restart: list[pb.HistoryEvent] | None = None

    @property
    def finished(self) -> bool:
        return self.status in ev.TERMINAL


def apply_actions(turn: Turn, res: pb.WorkflowResponse, now: datetime) -> Outcome:
    new_events = list(turn.new_events)
    if res.HasField("version") and new_events[0].HasField("workflowStarted"):
        # Patches and version names are read back from this event on replay.
        new_events[0].workflowStarted.version.CopyFrom(res.version)
    out = Outcome(
        appended=new_events,
        status=ev.status_after(turn.instance.status, turn.new_events),
        custom_status=ev.optional_string(res, "customStatus"),
    )
    me = turn.instance.instance_id
    started = turn.started()
    for action in res.actions:
        kind = action.WhichOneof("workflowActionType")
        if kind == "scheduleTask":
            task = action.scheduleTask
            scheduled = ev.event(
                now,
                action.id,
                taskScheduled=pb.TaskScheduledEvent(
                    name=task.name,
                    version=task.version if task.HasField("version") else None,
                    input=task.input if task.HasField("input") else None,
                    taskExecutionId=task.taskExecutionId,
                    parentTraceContext=_task_trace(started),
                ),
            )
            out.appended.append(scheduled)
            out.activities.append(scheduled)
        elif kind == "createTimer":
            timer = action.createTimer
            created = pb.TimerCreatedEvent(fireAt=timer.fireAt, name=timer.name)
            origin = timer.WhichOneof("origin")
            if origin is not None:
                getattr(created, origin).CopyFrom(getattr(timer, origin))
            out.appended.append(ev.event(now, action.id, timerCreated=created))
            if not ev.is_optional_timer(timer.fireAt):
                fired = ev.event(
                    now, timerFired=pb.TimerFiredEvent(fireAt=timer.fireAt, timerId=action.id)
                )
                out.timers.append((fired, ev.to_datetime(timer.fireAt)))
        elif kind == "createChildWorkflow":
            child = action.createChildWorkflow
            child_id = child.instanceId or f"{me}:{action.id:04x}"
            out.appended.append(
                ev.event(
                    now,
                    action.id,
                    childWorkflowInstanceCreated=pb.ChildWorkflowInstanceCreatedEvent(
                        instanceId=child_id,
                        name=child.name,
                        input=child.input if child.HasField("input") else None,
                    ),
                )
            )
            out.children.append(
                ev.execution_started(
                    now,
                    name=child.name,
                    instance_id=child_id,
                    execution_id=uuid.uuid4().hex,
                    input=child.input if child.HasField("input") else None,
                    parent=pb.ParentInstanceInfo(
                        taskScheduledId=action.id,
                        name=wrappers_pb2.StringValue(value=started.name if started else ""),
                        workflowInstance=pb.WorkflowInstance(
                            instanceId=me, executionId=ev.string_value(turn.instance.execution_id)
                        ),
                    ),
                )
            )
        elif kind == "createDetachedWorkflow":
            detached = action.createDetachedWorkflow
            out.appended.append(
                ev.event(
                    now,
                    action.id,
                    detachedWorkflowInstanceCreated=pb.DetachedWorkflowInstanceCreatedEvent(
                        instanceId=detached.instanceId
                    ),
                )
            )
            out.children.append(
                ev.execution_started(
                    now,
                    name=detached.name,
                    instance_id=detached.instanceId,
                    execution_id=uuid.uuid4().hex,
                    input=detached.input if detached.HasField("input") else None,
                    scheduled_start=detached.scheduledStartTimestamp
                    if detached.HasField("scheduledStartTimestamp")
                    else None,
                    tags=dict(detached.tags),
                )
            )
        elif kind == "sendEvent":
            send = action.sendEvent
            data = send.data if send.HasField("data") else None
            out.appended.append(
                ev.event(
                    now,
                    action.id,
                    eventSent=pb.EventSentEvent(
                        instanceId=send.instance.instanceId, name=send.name, input=data
                    ),
                )
            )
            out.messages.append(
                (
                    send.instance.instanceId,
                    ev.event(now, eventRaised=pb.EventRaisedEvent(name=send.name, input=data)),
                )
            )
        elif kind == "terminateWorkflow":
            term = action.terminateWorkflow
            out.messages.append(
                (
                    term.instanceId,
                    ev.event(
                        now,
                        executionTerminated=pb.ExecutionTerminatedEvent(
                            input=term.reason if term.HasField("reason") else None,
                            recurse=term.recurse,
                        ),
                    ),
                )
            )
        elif kind == "workflowVersionNotAvailable":
            out.status = ev.STALLED
            out.appended.append(
                ev.event(
                    now,
                    executionStalled=pb.ExecutionStalledEvent(
                        reason=pb.VERSION_NOT_AVAILABLE,
                        description="workflow version not available in the worker",
                    ),
                )
            )
        elif kind == "completeWorkflow":
            _complete(out, turn, action, started, now)
            break
    return out


def _task_trace(started: pb.ExecutionStartedEvent | None) -> pb.TraceContext | None:
    """An activity's parent trace: the context its instance was started in (daprd puts its
    orchestration span between them; the trace is the same)."""
    if started is not None and started.HasField("parentTraceContext"):
        return started.parentTraceContext
    return None


def _complete(
    out: Outcome,
    turn: Turn,
    action: pb.WorkflowAction,
    started: pb.ExecutionStartedEvent | None,
    now: datetime,
) -> None:
    done = action.completeWorkflow
    result = done.result if done.HasField("result") else None
    if done.workflowStatus == ev.CONTINUED_AS_NEW:
        assert started is not None, "a workflow continued as new before it started"
        out.status = ev.RUNNING
        out.output = None
        out.activities.clear()
        out.timers.clear()
        out.restart = [
            ev.execution_started(
                now,
                name=started.name,
                instance_id=turn.instance.instance_id,
                execution_id=uuid.uuid4().hex,
                input=result,
                parent=started.parentInstance if started.HasField("parentInstance") else None,
            ),
            *done.carryoverEvents,
        ]
        return
    failure = done.failureDetails if done.HasField("failureDetails") else None
    out.status = done.workflowStatus
    out.output = result.value if result is not None else None
    out.failure = failure
    out.appended.append(
        ev.event(
            now,
            action.id,
            executionCompleted=pb.ExecutionCompletedEvent(
                workflowStatus=done.workflowStatus, result=result, failureDetails=failure
            ),
        )
    )
    out.activities.clear()
    out.timers.clear()
    if started is not None and started.HasField("parentInstance"):
        parent = started.parentInstance
        if done.workflowStatus == ev.COMPLETED:
            kind = {
                "childWorkflowInstanceCompleted": pb.ChildWorkflowInstanceCompletedEvent(
                    taskScheduledId=parent.taskScheduledId, result=result
                )
            }
        else:
            kind = {
                "childWorkflowInstanceFailed": pb.ChildWorkflowInstanceFailedEvent(
                    taskScheduledId=parent.taskScheduledId,
                    failureDetails=failure
                    or ev.failure(
                        "WorkflowTerminated"
                        if done.workflowStatus == ev.TERMINATED
                        else "WorkflowFailed",
                        f"child workflow '{turn.instance.instance_id}' ended as "
                        f"{pb.OrchestrationStatus.Name(done.workflowStatus)}",
                    ),
                )
            }
        out.messages.append((parent.workflowInstance.instanceId, ev.event(now, **kind)))
