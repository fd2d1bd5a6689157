"""Workflows through the official SDK against the sidecar (the dapr python-sdk e2e scenarios):
activities, fan-out/fan-in, child workflows, timers, external events, when_any with a timeout,
retries, terminate, suspend/resume, purge, continue-as-new, listing and idempotent start."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dapr.ext.workflow as wf
import grpc
import pytest

from devstack.apps import workflows_app as app
from devstack.processes import DaprPair, wait_until
from devstack.workflow_pair import client_for, workflow_pair

TIMEOUT = 30


@pytest.fixture(scope="module")
async def pair(make_database, runtime, tmp_path_factory) -> Iterator[DaprPair]:
    database = await make_database("workflows")
    pair = workflow_pair(tmp_path_factory.mktemp("workflows"), database, runtime)
    try:
        yield pair.start()
    finally:
        pair.stop()


@pytest.fixture(scope="module")
def client(pair: DaprPair) -> Iterator[wf.DaprWorkflowClient]:
    client = client_for(pair)
    yield client
    client.close()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run(client: wf.DaprWorkflowClient, workflow, data=None, instance_id=None) -> wf.WorkflowState:
    instance_id = client.schedule_new_workflow(workflow, input=data, instance_id=instance_id)
    return client.wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)


def output(state: wf.WorkflowState):
    return json.loads(state.serialized_output)


def status_is(client, instance_id: str, status: wf.WorkflowStatus):
    return lambda: client.get_workflow_state(instance_id).runtime_status == status


def test_activities_run_in_sequence_and_results_come_back_in_order(client) -> None:
    state = run(client, app.sequence, 5)

    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert output(state) == [0, 1, 2, 3, 4]
    assert json.loads(state.serialized_input) == 5


def test_fan_out_fan_in_combines_every_parallel_activity(client) -> None:
    state = run(client, app.fan_out_fan_in, 10)

    assert output(state) == sum(i * i for i in range(10))


def test_child_workflows_return_their_results_to_the_parent(client) -> None:
    parent_id = new_id("parent")
    state = run(client, app.parent, 5, parent_id)

    assert output(state) == 21  # child(5) = 10, child(10) = 20, + 1
    named_child = client.get_workflow_state(f"{parent_id}-c")
    assert named_child.runtime_status == wf.WorkflowStatus.COMPLETED
    assert json.loads(named_child.serialized_output) == 20


def test_a_failed_child_workflow_fails_the_parents_task(client) -> None:
    state = run(client, app.parent_of_failure)

    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert "child failed" in output(state)


def test_a_durable_timer_delays_the_workflow_by_its_duration(client) -> None:
    state = run(client, app.sleeper, 1.0)

    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert output(state) >= 1.0  # measured on the workflow's own (replay-safe) clock


def test_an_external_event_wakes_a_waiting_workflow(client) -> None:
    instance_id = client.schedule_new_workflow(app.approval, input=60)
    client.wait_for_workflow_start(instance_id, timeout_in_seconds=TIMEOUT)

    client.raise_workflow_event(instance_id, "approval", data={"by": "ana"})

    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)
    assert output(state) == "approved by ana"


def test_when_any_with_a_timer_times_out_when_no_event_comes(client) -> None:
    state = run(client, app.approval, 0.5)

    assert output(state) == "timed out"


def test_events_raised_before_the_workflow_waits_are_kept_in_order(client) -> None:
    instance_id = client.schedule_new_workflow(app.two_events)
    client.raise_workflow_event(instance_id, "go", data="first")
    client.raise_workflow_event(instance_id, "GO", data="second")  # names are case-insensitive

    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)
    assert output(state) == ["first", "second"]


def test_a_failing_activity_is_retried_by_its_retry_policy(client) -> None:
    state = run(client, app.retrying, 2)

    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert output(state) == "succeeded on attempt 3"


def test_retries_give_up_after_the_maximum_attempts_and_fail_the_workflow(client) -> None:
    state = run(client, app.retrying, 10)

    assert state.runtime_status == wf.WorkflowStatus.FAILED
    assert "attempt 4 fails on purpose" in state.failure_details.message


def test_terminate_ends_a_waiting_workflow_with_the_given_output(client) -> None:
    instance_id = client.schedule_new_workflow(app.approval, input=60)
    client.wait_for_workflow_start(instance_id, timeout_in_seconds=TIMEOUT)

    client.terminate_workflow(instance_id, output="stopped by test")

    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)
    assert state.runtime_status == wf.WorkflowStatus.TERMINATED
    assert output(state) == "stopped by test"


def test_a_suspended_workflow_keeps_events_until_it_is_resumed(client) -> None:
    instance_id = client.schedule_new_workflow(app.status_reporter)
    client.wait_for_workflow_start(instance_id, timeout_in_seconds=TIMEOUT)

    client.pause_workflow(instance_id)
    wait_until(status_is(client, instance_id, wf.WorkflowStatus.SUSPENDED), what="suspended")
    client.raise_workflow_event(instance_id, "go", data="later")
    with pytest.raises(TimeoutError):
        client.wait_for_workflow_completion(instance_id, timeout_in_seconds=1)

    client.resume_workflow(instance_id)

    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)
    assert output(state) == "later"


def test_custom_status_is_visible_while_the_workflow_runs(client) -> None:
    instance_id = client.schedule_new_workflow(app.status_reporter)
    wait_until(
        lambda: client.get_workflow_state(instance_id).serialized_custom_status == "waiting",
        what="custom status",
    )
    client.terminate_workflow(instance_id)


def test_purge_removes_a_finished_workflow_and_refuses_a_running_one(client) -> None:
    done = run(client, app.sequence, 1)
    running = client.schedule_new_workflow(app.approval, input=60)
    client.wait_for_workflow_start(running, timeout_in_seconds=TIMEOUT)

    client.purge_workflow(done.instance_id)
    with pytest.raises(grpc.RpcError):
        client.purge_workflow(running)

    assert client.get_workflow_state(done.instance_id) is None
    assert client.get_workflow_state(running).runtime_status == wf.WorkflowStatus.RUNNING
    client.terminate_workflow(running)


def test_purging_a_parent_also_purges_its_children(client) -> None:
    parent_id = new_id("purged-parent")
    run(client, app.parent, 1, parent_id)

    client.purge_workflow(parent_id, recursive=True)

    assert client.get_workflow_state(f"{parent_id}-c") is None


def test_continue_as_new_restarts_the_workflow_with_the_new_input(client) -> None:
    state = run(client, app.counter, 0)

    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert output(state) == 3
    history = client.get_workflow_history(state.instance_id)
    started = [e for e in history if e.event_type == wf.WorkflowHistoryEventType.EXECUTION_STARTED]
    assert len(started) == 1  # the history restarts with each new execution


def test_the_history_records_each_scheduled_and_completed_activity(client) -> None:
    state = run(client, app.sequence, 2)

    kinds = [e.event_type for e in client.get_workflow_history(state.instance_id)]
    assert kinds.count(wf.WorkflowHistoryEventType.TASK_SCHEDULED) == 2
    assert kinds.count(wf.WorkflowHistoryEventType.TASK_COMPLETED) == 2
    assert kinds[-1] == wf.WorkflowHistoryEventType.EXECUTION_COMPLETED


def test_listing_instance_ids_pages_through_every_instance(client) -> None:
    started = {run(client, app.sequence, 0).instance_id for _ in range(5)}

    seen, token = [], None
    while True:
        page = client.list_workflow_instance_ids(page_size=2, continuation_token=token)
        assert len(page.instance_ids) <= 2
        seen += page.instance_ids
        token = page.continuation_token
        if not token:
            break

    assert started <= set(seen)
    assert len(seen) == len(set(seen))


def test_starting_a_running_instance_id_again_fails_with_already_exists(client) -> None:
    instance_id = new_id("complete")
    client.schedule_new_workflow(app.approval, input=60, instance_id=instance_id)

    with pytest.raises(grpc.RpcError) as refused:
        client.schedule_new_workflow(app.approval, input=60, instance_id=instance_id)

    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    client.terminate_workflow(instance_id)


@pytest.mark.parametrize("ending", ["completed", "failed", "terminated"])
def test_a_finished_instance_id_is_scheduled_again_over_its_history(client, ending: str) -> None:
    """daprd 1.18 and 1.19 refuse an id only while its instance is active; a finished one
    (completed, failed or terminated) is created again and its old history goes
    (pkg/actors/targets/workflow/orchestrator/create.go, createIfCompleted; dapr/docs#5244).
    The app does not rely on either: it looks an attempt up before scheduling it."""
    instance_id = new_id(ending)
    if ending == "completed":
        run(client, app.sequence, 1, instance_id)
    elif ending == "failed":
        state = run(client, app.failing_child, None, instance_id)
        assert state.runtime_status == wf.WorkflowStatus.FAILED
    else:
        client.schedule_new_workflow(app.approval, input=60, instance_id=instance_id)
        client.terminate_workflow(instance_id)
        wait_until(status_is(client, instance_id, wf.WorkflowStatus.TERMINATED), timeout=TIMEOUT)

    state = run(client, app.sequence, 3, instance_id)

    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert output(state) == [0, 1, 2]


def test_a_scheduled_start_waits_until_its_start_time(client) -> None:
    start_at = datetime.now(UTC) + timedelta(seconds=1)
    instance_id = client.schedule_new_workflow(app.sequence, input=1, start_at=start_at)

    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)

    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert datetime.now(UTC) >= start_at


def test_the_state_of_an_unknown_instance_is_none(client) -> None:
    assert client.get_workflow_state("never-started") is None
