"""Workflows survive SIGKILL of the sidecar or the app: durable history, timers and activities.

A sequential workflow has at most one activity in flight, so after a kill exactly one step may
run twice (it finished but its result was not committed); every step whose result was
committed before the kill has applied its side effect exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import dapr.ext.workflow as wf
import pytest

from devstack.apps import workflows_app as app
from devstack.processes import DaprPair, wait_until
from devstack.workflow_pair import client_for, side_effects, workflow_pair

pytestmark = pytest.mark.slow
TIMEOUT = 60
STEPS = 6


@pytest.fixture(scope="module")
async def database(make_database) -> str:
    return await make_database("wffaults")


@pytest.fixture(scope="module")
def pair(database, runtime, tmp_path_factory) -> Iterator[DaprPair]:
    pair = workflow_pair(tmp_path_factory.mktemp("wffaults"), database, runtime)
    try:
        yield pair.start()
    finally:
        pair.stop()


def restart_sidecar(pair: DaprPair) -> None:
    pair.start_sidecar()
    pair.wait_sidecar_ready()


def assert_applied_once_except_the_step_in_flight(
    effects: dict[int, int], seen_before_kill: dict[int, int]
) -> None:
    assert sorted(effects) == list(range(STEPS))
    # The newest step seen before the kill may not have been committed yet.
    committed = [step for step in seen_before_kill if step < max(seen_before_kill)]
    assert all(effects[step] == 1 for step in committed), effects
    assert sum(1 for n in effects.values() if n == 2) <= 1, effects
    assert max(effects.values()) <= 2, effects


def test_a_workflow_resumes_after_the_sidecar_is_killed_mid_flight(pair, database) -> None:
    client = client_for(pair)
    instance_id = client.schedule_new_workflow(
        app.recorded_sequence, input={"steps": STEPS, "delay": 0.3}
    )
    wait_until(lambda: len(side_effects(database, instance_id)) >= 2, what="two steps done")

    pair.sidecar.kill()
    seen_before_kill = side_effects(database, instance_id)
    restart_sidecar(pair)

    state = client_for(pair).wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert_applied_once_except_the_step_in_flight(
        side_effects(database, instance_id), seen_before_kill
    )


def test_a_durable_timer_fires_after_the_sidecar_restarts(pair) -> None:
    client = client_for(pair)
    instance_id = client.schedule_new_workflow(app.sleeper, input=2.0)
    client.wait_for_workflow_start(instance_id, timeout_in_seconds=TIMEOUT)

    pair.sidecar.kill()
    restart_sidecar(pair)

    state = client_for(pair).wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert json.loads(state.serialized_output) >= 2.0


def test_a_workflow_resumes_after_the_app_is_killed_mid_activity(pair, database) -> None:
    client = client_for(pair)
    instance_id = client.schedule_new_workflow(
        app.recorded_sequence, input={"steps": STEPS, "delay": 0.3}
    )
    wait_until(lambda: len(side_effects(database, instance_id)) >= 2, what="two steps done")

    pair.app.kill()
    seen_before_kill = side_effects(database, instance_id)
    pair.start_app()

    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=TIMEOUT)
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert_applied_once_except_the_step_in_flight(
        side_effects(database, instance_id), seen_before_kill
    )
