"""workflows/worker.py's turns and activities, fed the protobuf work items a sidecar sends.

No sidecar: a turn is pure, and an activity's result is only built here; the saga tests
(tests/integration/saga) run the worker against the dev sidecar, its outage test included.
"""

from __future__ import annotations

import json

import pytest
from dapr.ext.workflow._durabletask.internal import helpers as ph
from dapr.ext.workflow._durabletask.internal import protos as pb

from workflows.worker import LoopWorker

TOKEN = "token-1"


@pytest.fixture
def worker() -> LoopWorker:
    # defined per test: the SDK marks a function it registered, and refuses it a second time
    def echo_flow(ctx, data: dict):
        answer = yield ctx.call_activity("double", input=data["n"])
        return {"doubled": answer}

    async def double(ctx, n: int) -> int:
        if n < 0:
            raise ValueError("negative")
        return n * 2

    w = LoopWorker("127.0.0.1", 1)
    w.register_workflow(echo_flow, name="echo_flow")
    w.register_activity(double, name="double")
    return w


def started(instance: str) -> list:
    return [
        ph.new_workflow_started_event(),
        ph.new_execution_started_event("echo_flow", instance, json.dumps({"n": 21})),
    ]


def test_a_first_turn_schedules_the_activity(worker: LoopWorker) -> None:
    req = pb.WorkflowRequest(instanceId="i-1", newEvents=started("i-1"))
    response = worker._turn(req, TOKEN)
    assert response.instanceId == "i-1" and response.completionToken == TOKEN
    [action] = response.actions
    assert action.WhichOneof("workflowActionType") == "scheduleTask"
    assert action.scheduleTask.name == "double"
    assert json.loads(action.scheduleTask.input.value) == 21


def test_a_replayed_turn_completes_with_the_activity_result(worker: LoopWorker) -> None:
    [scheduled] = worker._turn(
        pb.WorkflowRequest(instanceId="i-2", newEvents=started("i-2")), TOKEN
    ).actions
    past = [*started("i-2"), ph.new_task_scheduled_event(scheduled.id, "double")]
    new = [ph.new_workflow_started_event(), ph.new_task_completed_event(scheduled.id, "42")]
    response = worker._turn(
        pb.WorkflowRequest(instanceId="i-2", pastEvents=past, newEvents=new), TOKEN
    )
    [action] = response.actions
    done = action.completeWorkflow
    assert done.workflowStatus == pb.ORCHESTRATION_STATUS_COMPLETED
    assert json.loads(done.result.value) == {"doubled": 42}


def test_an_unknown_workflow_fails_its_instance(worker: LoopWorker) -> None:
    events = [
        ph.new_workflow_started_event(),
        ph.new_execution_started_event("nobody_registered", "i-3", None),
    ]
    response = worker._turn(pb.WorkflowRequest(instanceId="i-3", newEvents=events), TOKEN)
    [action] = response.actions
    assert action.completeWorkflow.workflowStatus == pb.ORCHESTRATION_STATUS_FAILED


def activity_request(n: int, name: str = "double") -> pb.ActivityRequest:
    return pb.ActivityRequest(
        name=name,
        taskId=7,
        input=ph.get_string_value(json.dumps(n)),
        workflowInstance=pb.WorkflowInstance(instanceId="i-4"),
    )


async def test_an_activity_runs_on_the_loop_and_reports_its_result(worker: LoopWorker) -> None:
    response = await worker._activity(activity_request(5), TOKEN)
    assert (response.instanceId, response.taskId, response.completionToken) == ("i-4", 7, TOKEN)
    assert json.loads(response.result.value) == 10
    assert not response.HasField("failureDetails")


async def test_a_failing_or_unknown_activity_reports_a_failure(worker: LoopWorker) -> None:
    failed = await worker._activity(activity_request(-1), TOKEN)
    assert failed.failureDetails.errorMessage == "negative"
    unknown = await worker._activity(activity_request(1, name="missing"), TOKEN)
    assert "missing" in unknown.failureDetails.errorMessage


def test_a_blocking_activity_is_refused(worker: LoopWorker) -> None:
    def blocking(ctx, n: int) -> int:
        return n

    with pytest.raises(TypeError, match="must be async"):
        worker.register_activity(blocking, name="blocking")
