"""Workflows and activities for the sidecar workflow tests, and an app that hosts them.

The scenarios mirror the dapr python-sdk workflow e2e tests. Activities that must be
counted record their side effect in PostgreSQL (`WORKFLOWS_TEST_DB`), keyed by instance and
step, so a test can tell an activity that ran twice from one that ran once.

`app` is a FastAPI app whose lifespan runs the SDK's WorkflowRuntime against the sidecar
named by DAPR_RUNTIME_HOST / DAPR_GRPC_PORT (devstack/processes.py sets them).
"""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager
from datetime import timedelta

import dapr.ext.workflow as wf
import psycopg
from fastapi import FastAPI

SIDE_EFFECTS_DDL = """
CREATE TABLE IF NOT EXISTS wf_side_effects (
    instance_id text NOT NULL,
    step integer NOT NULL,
    applied integer NOT NULL,
    PRIMARY KEY (instance_id, step)
)
"""

# Attempts per instance for `flaky`; the worker lives in one process per test run.
_attempts: dict[str, int] = {}


def record_side_effect(instance_id: str, step: int) -> None:
    with psycopg.connect(os.environ["WORKFLOWS_TEST_DB"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO wf_side_effects VALUES (%s, %s, 1) ON CONFLICT (instance_id, step)"
            " DO UPDATE SET applied = wf_side_effects.applied + 1",
            (instance_id, step),
        )


def echo(ctx: wf.WorkflowActivityContext, value):
    return value


def square(ctx: wf.WorkflowActivityContext, value: int) -> int:
    return value * value


def recorded_step(ctx: wf.WorkflowActivityContext, spec: dict) -> int:
    """Sleeps `delay` seconds (so a test can kill the sidecar mid-step), then records."""
    time.sleep(spec.get("delay", 0))
    record_side_effect(ctx.workflow_id, spec["step"])
    return spec["step"]


def flaky(ctx: wf.WorkflowActivityContext, failures: int) -> str:
    """Fails its first `failures` attempts for this workflow instance."""
    attempt = _attempts.get(ctx.workflow_id, 0) + 1
    _attempts[ctx.workflow_id] = attempt
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails on purpose")
    return f"succeeded on attempt {attempt}"


def sequence(ctx: wf.DaprWorkflowContext, count: int):
    results = []
    for i in range(count):
        results.append((yield ctx.call_activity(echo, input=i)))
    return results


def recorded_sequence(ctx: wf.DaprWorkflowContext, spec: dict):
    for step in range(spec["steps"]):
        yield ctx.call_activity(recorded_step, input={"step": step, "delay": spec["delay"]})
    return spec["steps"]


def fan_out_fan_in(ctx: wf.DaprWorkflowContext, count: int):
    squares = yield wf.when_all([ctx.call_activity(square, input=i) for i in range(count)])
    return sum(squares)


def child(ctx: wf.DaprWorkflowContext, value: int):
    doubled = yield ctx.call_activity(echo, input=value * 2)
    return doubled


def parent(ctx: wf.DaprWorkflowContext, value: int):
    first = yield ctx.call_child_workflow(child, input=value)
    second = yield ctx.call_child_workflow(child, input=first, instance_id=f"{ctx.instance_id}-c")
    return second + 1


def failing_child(ctx: wf.DaprWorkflowContext, _):
    yield ctx.call_activity(flaky, input=99)


def parent_of_failure(ctx: wf.DaprWorkflowContext, _):
    try:
        yield ctx.call_child_workflow(failing_child)
    except wf.TaskFailedError as failed:
        return f"child failed: {failed.details.message}"
    return "child succeeded"


def sleeper(ctx: wf.DaprWorkflowContext, seconds: float):
    start = ctx.current_utc_datetime
    yield ctx.create_timer(timedelta(seconds=seconds))
    return (ctx.current_utc_datetime - start).total_seconds()


def approval(ctx: wf.DaprWorkflowContext, timeout_seconds: float):
    decision = ctx.wait_for_external_event("approval")
    timeout = ctx.create_timer(timedelta(seconds=timeout_seconds))
    winner = yield wf.when_any([decision, timeout])
    if winner == timeout:
        return "timed out"
    return f"approved by {decision.get_result()['by']}"


def two_events(ctx: wf.DaprWorkflowContext, _):
    first = yield ctx.wait_for_external_event("go")
    second = yield ctx.wait_for_external_event("go")
    return [first, second]


def retrying(ctx: wf.DaprWorkflowContext, failures: int):
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=50), max_number_of_attempts=4
    )
    return (yield ctx.call_activity(flaky, input=failures, retry_policy=policy))


def counter(ctx: wf.DaprWorkflowContext, count: int):
    if count < 3:
        yield ctx.call_activity(echo, input=count)
        ctx.continue_as_new(count + 1)
        return None
    return count


def status_reporter(ctx: wf.DaprWorkflowContext, _):
    ctx.set_custom_status("waiting")
    got = yield ctx.wait_for_external_event("go")
    return got


WORKFLOWS = [
    sequence,
    recorded_sequence,
    fan_out_fan_in,
    child,
    parent,
    failing_child,
    parent_of_failure,
    sleeper,
    approval,
    two_events,
    retrying,
    counter,
    status_reporter,
]
ACTIVITIES = [echo, square, recorded_step, flaky]


def workflow_runtime(host: str | None = None, port: str | None = None) -> wf.WorkflowRuntime:
    runtime = wf.WorkflowRuntime(host=host, port=port)
    for workflow in WORKFLOWS:
        runtime.register_workflow(workflow)
    for activity in ACTIVITIES:
        runtime.register_activity(activity)
    return runtime


@asynccontextmanager
async def lifespan(_: FastAPI):
    runtime = workflow_runtime()
    runtime.start()
    try:
        yield
    finally:
        runtime.shutdown()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}


@app.get("/dapr/config")
def dapr_config() -> dict:
    return {"entities": []}
