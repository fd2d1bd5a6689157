"""GetInstanceHistory through the vendored TaskHubSidecarService stub, as daprd serves it.

daprd answers with the instance's persisted history (pkg/runtime/wfengine/backends/actors,
GetInstanceHistory): every turn in commit order, each one a workflowStarted, then the inbox
events it consumed, then the events of the worker's actions. Events keep their stored ids
(-1 for delivered events, the action id for an action's event) and timestamps. The list as a
whole is not time-ordered: an event a turn consumes (executionStarted, taskCompleted...) was
stamped when it was raised, before the turn's workflowStarted. Unknown and purged instances
are NOT_FOUND. These cases run on daprd too (`--runtime dapr`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dapr.ext.workflow as wf
import dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2 as pb
import dapr.ext.workflow._durabletask.internal.protos as protos
import grpc
import pytest
from dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2_grpc import (
    TaskHubSidecarServiceStub,
)

from devstack.apps import workflows_app as app
from devstack.processes import DaprPair
from devstack.workflow_pair import client_for, workflow_pair

TIMEOUT = 30

# Events a turn hands over from the inbox: stamped when raised, so before the turn began.
DELIVERED = frozenset({"executionStarted", "taskCompleted", "taskFailed", "timerFired"})


@pytest.fixture(scope="module")
async def pair(make_database, runtime, tmp_path_factory) -> Iterator[DaprPair]:
    database = await make_database("wfhistory")
    pair = workflow_pair(tmp_path_factory.mktemp("wfhistory"), database, runtime)
    try:
        yield pair.start()
    finally:
        pair.stop()


@pytest.fixture(scope="module")
def client(pair: DaprPair) -> Iterator[wf.DaprWorkflowClient]:
    client = client_for(pair)
    yield client
    client.close()


@pytest.fixture(scope="module")
def stub(pair: DaprPair) -> Iterator[TaskHubSidecarServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{pair.grpc_port}") as channel:
        yield TaskHubSidecarServiceStub(channel)


def history(stub: TaskHubSidecarServiceStub, instance_id: str) -> list:
    request = pb.GetInstanceHistoryRequest(instanceId=instance_id)
    return list(stub.GetInstanceHistory(request, timeout=TIMEOUT).events)


def kinds(events: list) -> list[str]:
    return [e.WhichOneof("eventType") for e in events]


def at(event) -> datetime:
    return event.timestamp.ToDatetime(tzinfo=UTC)


def run(client: wf.DaprWorkflowClient, workflow, data=None, instance_id=None) -> str:
    instance_id = client.schedule_new_workflow(workflow, input=data, instance_id=instance_id)
    client.wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)
    return instance_id


def assert_stamped_turn_by_turn(events: list) -> None:
    """Turns start in time order; within a turn, delivered events are no later than its
    workflowStarted and its actions' events fall between it and the next turn's."""
    starts = [i for i, e in enumerate(events) if e.HasField("workflowStarted")]
    assert starts and starts[0] == 0
    turn_times = [at(events[i]) for i in starts]
    assert turn_times == sorted(turn_times)
    bounds = zip(starts, [*starts[1:], len(events)], strict=True)
    for (begin, end), begun in zip(bounds, turn_times, strict=True):
        until = at(events[end]) if end < len(events) else None
        for event in events[begin + 1 : end]:
            if event.WhichOneof("eventType") in DELIVERED:
                assert at(event) <= begun, event
            else:
                assert begun <= at(event) and (until is None or at(event) <= until), event


def assert_error(stub, instance_id: str, code: grpc.StatusCode, details: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        history(stub, instance_id)
    assert refused.value.code() == code
    assert refused.value.details() == details


def test_a_completed_workflow_has_every_turn_in_commit_order(client, stub) -> None:
    instance_id = run(client, app.sequence, 2)

    events = history(stub, instance_id)

    assert kinds(events) == [
        "workflowStarted",
        "executionStarted",
        "taskScheduled",
        "workflowStarted",
        "taskCompleted",
        "taskScheduled",
        "workflowStarted",
        "taskCompleted",
        "executionCompleted",
    ]
    started, completed = events[1].executionStarted, events[-1].executionCompleted
    assert started.name == "sequence"
    assert started.workflowInstance.instanceId == instance_id
    assert started.input.value == "2"
    assert completed.workflowStatus == protos.ORCHESTRATION_STATUS_COMPLETED
    assert json.loads(completed.result.value) == [0, 1]
    scheduled = [e for e in events if e.HasField("taskScheduled")]
    results = [e for e in events if e.HasField("taskCompleted")]
    assert [e.taskScheduled.name for e in scheduled] == ["echo", "echo"]
    assert [e.taskCompleted.result.value for e in results] == ["0", "1"]
    # Action events carry the worker's action ids; delivered events none.
    assert [e.taskCompleted.taskScheduledId for e in results] == [e.eventId for e in scheduled]
    assert len({e.eventId for e in scheduled}) == 2 and min(e.eventId for e in scheduled) >= 0
    assert events[-1].eventId >= 0
    assert {e.eventId for e in events if not e.HasField("taskScheduled")} - {
        events[-1].eventId
    } == {-1}
    assert_stamped_turn_by_turn(events)
    for task, result in zip(scheduled, results, strict=True):
        assert at(task) <= at(result)


def test_a_failed_activity_is_a_task_failed_then_a_failed_completion(client, stub) -> None:
    instance_id = run(client, app.failing_child)

    events = history(stub, instance_id)

    assert kinds(events) == [
        "workflowStarted",
        "executionStarted",
        "taskScheduled",
        "workflowStarted",
        "taskFailed",
        "executionCompleted",
    ]
    failed, completed = events[4].taskFailed, events[5].executionCompleted
    assert failed.taskScheduledId == events[2].eventId
    assert "attempt 1 fails on purpose" in failed.failureDetails.errorMessage
    assert completed.workflowStatus == protos.ORCHESTRATION_STATUS_FAILED
    assert "attempt 1 fails on purpose" in completed.failureDetails.errorMessage
    assert_stamped_turn_by_turn(events)


def test_a_fired_timer_is_stamped_when_it_fired_not_when_it_was_created(client, stub) -> None:
    instance_id = run(client, app.sleeper, 0.5)

    events = history(stub, instance_id)

    assert kinds(events) == [
        "workflowStarted",
        "executionStarted",
        "timerCreated",
        "workflowStarted",
        "timerFired",
        "executionCompleted",
    ]
    created, fired = events[2], events[4]
    assert fired.timerFired.timerId == created.eventId
    fire_at = fired.timerFired.fireAt.ToDatetime(tzinfo=UTC)
    assert at(created) < fire_at <= at(fired)
    assert_stamped_turn_by_turn(events)


def test_after_continue_as_new_only_the_last_execution_is_history(client, stub) -> None:
    instance_id = run(client, app.counter, 0)

    events = history(stub, instance_id)

    assert kinds(events) == ["workflowStarted", "executionStarted", "executionCompleted"]
    assert events[1].executionStarted.input.value == "3"


def test_a_rescheduled_finished_id_has_only_the_new_runs_history(client, stub) -> None:
    instance_id = run(client, app.sequence, 1, f"again-{uuid.uuid4().hex[:8]}")

    run(client, app.sequence, 0, instance_id)

    events = history(stub, instance_id)
    assert kinds(events) == ["workflowStarted", "executionStarted", "executionCompleted"]
    assert events[1].executionStarted.input.value == "0"


def test_an_instance_that_has_not_run_a_turn_has_an_empty_history(client, stub) -> None:
    instance_id = client.schedule_new_workflow(
        app.sequence, input=1, start_at=datetime.now(UTC) + timedelta(minutes=5)
    )

    assert history(stub, instance_id) == []

    stub.PurgeInstances(
        pb.PurgeInstancesRequest(instanceId=instance_id, recursive=True, force=True),
        timeout=TIMEOUT,
    )
    assert_error(
        stub,
        instance_id,
        grpc.StatusCode.NOT_FOUND,
        f"workflow instance '{instance_id}' not found",
    )


def test_an_unknown_instance_is_not_found(stub) -> None:
    assert_error(
        stub,
        "never-started",
        grpc.StatusCode.NOT_FOUND,
        "workflow instance 'never-started' not found",
    )


def test_a_purged_instance_is_not_found(client, stub) -> None:
    instance_id = run(client, app.sequence, 1)
    assert history(stub, instance_id)

    client.purge_workflow(instance_id)

    assert_error(
        stub,
        instance_id,
        grpc.StatusCode.NOT_FOUND,
        f"workflow instance '{instance_id}' not found",
    )


def test_the_sdk_client_reads_the_same_history(client, stub) -> None:
    instance_id = run(client, app.sequence, 1)

    through_sdk = client.get_workflow_history(instance_id)

    assert [e.event_id for e in through_sdk] == [e.eventId for e in history(stub, instance_id)]
    with pytest.raises(grpc.RpcError) as refused:
        client.get_workflow_history("never-started")
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
