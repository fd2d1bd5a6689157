"""Two replicas, as the chart runs them: two app processes on one PostgreSQL database, each
with its own sidecar, both sidecars in one consumer group on one Kafka broker (Tansu), so
Dapr hands each event to one replica only. A change made through either reaches the
user's streams on both (the live feed's LISTEN/NOTIFY, store.live_channel), and no one
else's.

The dev sidecar places actors on one host and keeps its workflows in its state store, so
here each sidecar has a state database of its own (under --runtime dapr the two daprd
share the app's, as in production, where placement spreads actors over the pods)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from devstack.clock import DevClock
from devstack.processes import TansuBroker, eventually
from devstack.stack import SECRET, Stack, app_pair, kafka_resources
from store.database import migrate, plain_url
from tests.integration.events.scenarios import create, sse

# The first consumer-group join, and the rebalance when the second sidecar joins, take
# Tansu several seconds each (DAPR-CONTRACT.md, "Kafka in tests").
FIRST_EVENT_WITHIN = 90.0


@dataclass
class Replicas:
    a: Stack
    b: Stack

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} {proc.name} ---\n{proc.log()[-2000:]}"
            for name, stack in (("A", self.a), ("B", self.b))
            for proc in (stack.pair.app, stack.pair.sidecar)
            if proc is not None
        )


@pytest.fixture(scope="module")
async def replicas(make_database, runtime, tmp_path_factory) -> AsyncIterator[Replicas]:
    url = await make_database("replicas")
    await asyncio.to_thread(migrate, url)
    workdir = tmp_path_factory.mktemp("replicas")
    broker = TansuBroker(workdir / "tansu.log").start()
    resources = kafka_resources(workdir, broker.address)  # one consumer group for both
    stacks: list[Stack] = []
    try:
        for name in ("a", "b"):
            state = url if runtime == "dapr" else await make_database(f"replicas_dapr_{name}")
            pair = app_pair(
                url,
                SECRET,
                resources,
                workdir / name,
                runtime=runtime,
                TICKLER_DAPR_DATABASE_URL=plain_url(state),
            )
            stack = Stack(pair, url, DevClock(workdir / name / "clock", controllable=False))
            stacks.append(stack)
            await asyncio.to_thread(pair.start)
        yield Replicas(*stacks)
    finally:
        for stack in stacks:
            await asyncio.to_thread(stack.pair.stop)
        broker.kill()


@dataclass
class Watched:
    """What one SSE client has been sent so far."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, task_id: str) -> list[str]:
        return [e["type"] for e in self.events if e["task_id"] == task_id]


@asynccontextmanager
async def watching(stack: Stack, user: str) -> AsyncIterator[Watched]:
    """A stream of `user`'s on `stack`, read in the background, once it is listening."""
    watched, ready = Watched(), asyncio.Event()

    async def read() -> None:
        async with (
            stack.client(user, timeout=None) as c,
            c.stream("GET", "/v1/stream") as response,
        ):
            assert response.status_code == 200
            async for item in sse(response):
                if item.get("comment") == "listening":
                    ready.set()
                elif "data" in item:
                    watched.events.append(json.loads(item["data"]))

    reader = asyncio.create_task(read())
    await asyncio.wait(
        [reader, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED
    )
    if reader.done():
        reader.result()  # it failed before listening: raise its error here
    try:
        yield watched
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def live_handled(url: str, event_ids: list[str]) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT count(*) FROM processed_events WHERE consumer = 'live' "
            "AND event_id = ANY($1::uuid[]) GROUP BY event_id",
            [uuid.UUID(i) for i in event_ids],
        )
    finally:
        await conn.close()
    return [r[0] for r in rows]


async def test_a_change_through_one_replica_reaches_the_users_streams_on_both(
    replicas: Replicas,
) -> None:
    async with (
        watching(replicas.a, "alice") as alice_on_a,
        watching(replicas.b, "alice") as alice_on_b,
        watching(replicas.a, "bob") as bob_on_a,
        replicas.b.client("alice") as alice,
        replicas.b.client("bob") as bob,
    ):
        task = await create(alice, title="seen by both replicas")

        async def created_on_both() -> bool:
            return all(w.of(task["id"]) == ["task.created"] for w in (alice_on_a, alice_on_b))

        await eventually(
            created_on_both,
            within=FIRST_EVENT_WITHIN,
            what=f"task.created on both replicas' streams\n{replicas.logs()}",
        )
        r = await alice.post(f"/v1/tasks/{task['id']}/complete")
        assert r.status_code in (200, 202), r.text

        async def completed_on_both() -> bool:
            done = ["task.created", "task.completed"]
            return all(w.of(task["id"]) == done for w in (alice_on_a, alice_on_b))

        await eventually(
            completed_on_both, within=30, what=f"task.completed on both\n{replicas.logs()}"
        )
        # bob's own change, made after alice's, reaching bob's stream on A: by then
        # anything of alice's that A was going to send him would have come first
        marker = await create(bob, title="bob's own")

        async def bobs_arrived() -> bool:
            return bool(bob_on_a.of(marker["id"]))

        await eventually(bobs_arrived, within=30, what=f"bob's marker\n{replicas.logs()}")
    assert {e["user_id"] for e in bob_on_a.events} == {"bob"}
    assert [e["task_id"] for e in bob_on_a.events] == [marker["id"]]
    # one live consumer handled each event, on one replica; the other got it by NOTIFY
    ids = [e["event_id"] for e in alice_on_a.events]
    assert ids == [e["event_id"] for e in alice_on_b.events]
    assert await live_handled(replicas.a.database_url, ids) == [1, 1]
