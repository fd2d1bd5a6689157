"""One completion is one trace, and every log line says which: the stack runs with its
OTLP exporter pointed at a receiver on loopback (a collector's stand-in) and its logs as
JSON at INFO. A client completes an occurrence of a series under a traceparent of its own;
that trace must then hold the request, the saga's turn and step, the series actor's call
(both ends), and every consumer of the events the step wrote, each span's parent in the
trace. The app's log lines are JSON, and the request's access-log line names the trace and
the request id the client sent."""

from __future__ import annotations

import json
import secrets

import pytest

from devstack.otlp_receiver import OtlpReceiver
from devstack.processes import eventually, free_port
from devstack.stack import Stack
from tests.integration.stack_fixture import stack_fixture

OTLP_PORT = free_port()
stack = stack_fixture(
    "traces",
    OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{OTLP_PORT}",
    OTEL_SERVICE_NAME="tickler-under-test",
    OTEL_BSP_SCHEDULE_DELAY="50",  # ms: export soon after each span ends
    TICKLER_LOG_LEVEL="INFO",
)
COMPLETE = "POST /v1/tasks/{task_id}/complete"
ACTOR_METHOD = "PUT /actors/{actor_type_name}/{actor_id}/method/{method_name}"
# the spans one completion of a series must show, beyond the request's own
SAGA = {"workflow complete_occurrence", "activity advance_occurrence"}
ACTOR_CALL = {"RecurringTaskActor.NextAfter", ACTOR_METHOD}
CONSUMERS = {"consume audit_and_notify", "consume scheduler", "consume live"}


@pytest.fixture(scope="module")
def receiver():
    with OtlpReceiver(OTLP_PORT) as r:
        yield r


def traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


async def test_a_completion_is_one_trace_from_request_to_consumers(
    receiver: OtlpReceiver, stack: Stack
) -> None:
    async with stack.client("traced") as c:
        r = await c.post(
            "/v1/tasks",
            json={
                "title": "traced",
                "due_at": "2027-03-01T09:00:00Z",
                "recurrence": {"rrule": "FREQ=DAILY"},
            },
        )
        assert r.status_code == 201, r.text
        trace_id, parent = traceparent()
        done = await c.post(
            f"/v1/tasks/{r.json()['id']}/complete",
            headers={"traceparent": parent, "X-Request-ID": "req-traced-1"},
        )
        assert done.status_code == 200, done.text
        assert done.headers["x-request-id"] == "req-traced-1"

    wanted = {COMPLETE, *SAGA, *ACTOR_CALL, *CONSUMERS}

    async def whole() -> bool:
        return wanted <= {s.name for s in receiver.trace(trace_id)}

    await eventually(
        whole,
        within=30,
        what=f"the trace to hold {sorted(wanted)}; "
        f"it has {sorted({s.name for s in receiver.trace(trace_id)})}",
    )
    spans = receiver.trace(trace_id)
    ids = {s.span_id for s in spans}
    request = next(s for s in spans if s.name == COMPLETE)
    assert request.parent_id == parent.split("-")[2]  # the client's span is its parent
    orphans = [s for s in spans if s is not request and s.parent_id not in ids]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"
    assert {s.service for s in spans} == {"tickler-under-test"}

    # the creation, under no traceparent, is a trace of its own, not part of this one
    assert sum(1 for s in spans if s.name == "POST /v1/tasks") == 0

    lines = [line for line in stack.pair.app.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    access = [
        r
        for r in records
        if r["logger"] == "tickler.access" and r.get("request_id") == "req-traced-1"
    ]
    assert len(access) == 1, access
    assert access[0]["trace_id"] == trace_id
    assert access[0]["http"]["route"] == "/v1/tasks/{task_id}/complete"
    assert access[0]["http"]["status"] == 200
