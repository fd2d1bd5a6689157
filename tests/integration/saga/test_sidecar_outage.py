"""The completion API while the sidecar is away, and how soon it works once it is back.

The sidecar is stopped and started again through the stack's DaprPair, on the same ports.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.processes import eventually
from devstack.stack import Stack
from tests.integration.stack_fixture import stack_fixture

stack = stack_fixture("outage")

# long enough that gRPC's default reconnect backoff (1 s, times 1.6 per attempt) and the
# workflow worker's own (2, 4, 8, then 15 s) would both have grown past several seconds
OUTAGE_S = float(os.environ.get("TICKLER_TEST_SIDECAR_OUTAGE_S", "20"))
RECOVERY_S = 2.0


def local_port(response: httpx.Response) -> int:
    """The client side of the TCP connection the response came on."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


async def create_series(client: httpx.AsyncClient, title: str) -> dict:
    body = {"title": title, "due_at": "2027-02-01T09:00:00Z", "recurrence": {"rrule": "FREQ=DAILY"}}
    r = await client.post("/v1/tasks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def sidecar_down(stack: Stack) -> AsyncIterator[None]:
    """The sidecar stopped for the test's body, started again and ready afterwards."""
    await asyncio.to_thread(stack.pair.sidecar.stop)
    try:
        yield
    finally:
        if not stack.pair.sidecar.alive():
            await asyncio.to_thread(stack.pair.start_sidecar)
            await asyncio.to_thread(stack.pair.wait_sidecar_ready)


async def test_without_the_sidecar_completion_answers_503_and_keeps_the_connection(
    stack: Stack, sidecar_down: None
) -> None:
    async with stack.client("down") as c:
        task = await create_series(c, "while the sidecar is down")
        for path in (
            f"/v1/tasks/{task['id']}/complete",
            f"/v1/tasks/{task['id']}/skip",
            f"/v1/operations/complete-{task['id']}",
        ):
            method = c.get if path.startswith("/v1/operations") else c.post
            r = await method(path)
            assert r.status_code == 503, (path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert int(r.headers["retry-after"]) > 0
            assert r.json()["status"] == 503
            assert r.headers.get("connection", "").lower() != "close"
            after = await c.get(f"/v1/tasks/{task['id']}")
            assert after.status_code == 200 and after.json()["status"] == "open"
            assert local_port(after) == local_port(r), f"{path} dropped the connection"


@pytest.mark.slow
async def test_completions_work_within_2s_of_the_sidecar_being_ready_again(
    stack: Stack, sidecar_down: None
) -> None:
    async with stack.client("recovery") as c:
        task = await create_series(c, "completed after the outage")
        stopped = time.monotonic()

        async def outage_over() -> bool:
            # clients keep calling while the sidecar is away, so every reconnect backoff
            # in the app grows as far as the outage lets it
            r = await c.post(f"/v1/tasks/{task['id']}/complete")
            assert r.status_code == 503, r.text
            return time.monotonic() - stopped >= OUTAGE_S

        await eventually(outage_over, within=OUTAGE_S + 10, what="the outage to last")
        await asyncio.to_thread(stack.pair.start_sidecar)
        await asyncio.to_thread(stack.pair.wait_sidecar_ready)
        ready = time.monotonic()

        async def completed() -> bool:
            r = await c.post(f"/v1/tasks/{task['id']}/complete")
            assert r.status_code in (200, 503), r.text
            return r.status_code == 200

        await eventually(completed, within=RECOVERY_S, what="a completion after the outage")
        assert time.monotonic() - ready < RECOVERY_S
