"""Two replicas' background work on one real PostgreSQL: two outbox relays publish each row
exactly once between them, and two housekeepers delete each row once, without errors."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.processes import eventually
from domain.clock import SystemClock
from domain.events import TASK_UPDATES, TaskCreated
from messaging.relay import Relay
from service.retention import Retention, prune
from store.database import create_engine
from store.uow import SqlUnitOfWork

ROWS = 600


@dataclass
class Response:
    failed_entries: list = field(default_factory=list)


class Sidecar:
    """The DaprClient a relay publishes through: records every entry it is handed, by
    topic and CloudEvent id. A publish yields to the loop, so the two relays interleave."""

    def __init__(self) -> None:
        self.published: Counter[tuple[str, str]] = Counter()

    async def publish_events(self, pubsub: str, topic: str, entries: list) -> Response:
        await asyncio.sleep(0)
        for entry in entries:
            self.published[topic, json.loads(entry.event)["id"]] += 1
        return Response()

    async def close(self) -> None:
        pass


class RecordingRelay(Relay):
    def __init__(self, sidecar: Sidecar, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sidecar = sidecar

    async def _connect(self) -> Sidecar:  # type: ignore[override]
        return self._sidecar


@pytest.fixture
async def replicas(engine: AsyncEngine) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Each replica with its own pool, as two pods have, on the one database."""
    other = create_engine(engine.url.render_as_string(hide_password=False), pool_size=2)
    try:
        yield engine, other
    finally:
        await other.dispose()


async def fill_outbox(engine: AsyncEngine, count: int) -> list[uuid.UUID]:
    ids = []
    for start in range(0, count, 100):
        async with SqlUnitOfWork(engine, SystemClock()) as uow:
            for n in range(start, min(start + 100, count)):
                event = TaskCreated(
                    occurred_at=datetime(2027, 1, 4, tzinfo=UTC),
                    user_id=f"u{n % 7}",
                    task_id=uuid.uuid4(),
                )
                uow.record(event)
                ids.append(event.event_id)
            await uow.commit()
    return ids


def plain(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def scalar(engine: AsyncEngine, sql: str) -> int:
    conn = await asyncpg.connect(plain(engine))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_two_relays_publish_each_outbox_row_exactly_once(replicas) -> None:
    ids = await fill_outbox(replicas[0], ROWS)
    sidecars = [Sidecar(), Sidecar()]  # each replica's own
    relays = [
        RecordingRelay(sidecar, lambda e=engine: SqlUnitOfWork(e, SystemClock()), "pubsub", batch=7)
        for sidecar, engine in zip(sidecars, replicas, strict=True)
    ]
    tasks = [asyncio.create_task(r.run()) for r in relays]

    async def drained() -> bool:
        return await scalar(replicas[0], UNPUBLISHED) == 0

    try:
        await eventually(drained, within=60, what="the outbox drained")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    published = sidecars[0].published + sidecars[1].published
    expected = {(topic, str(i)) for i in ids for topic in ("task-events", TASK_UPDATES)}
    assert set(published) == expected
    assert [k for k, n in published.items() if n != 1] == []
    assert all(s.published for s in sidecars), "both relays took a share"


UNPUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


AGED = {  # table: (rows, an INSERT of that many rows old enough to prune)
    "outbox": (
        3000,
        "INSERT INTO outbox (event_id, topic, type, user_id, payload, created_at, "
        "published_at) SELECT gen_random_uuid(), 'task-events', 'task.created', 'u', '{}', "
        "now() - interval '9 days', now() - interval '9 days' FROM generate_series(1, $1)",
    ),
    "processed_events": (
        3000,
        "INSERT INTO processed_events (consumer, event_id, processed_at) SELECT "
        "(ARRAY['audit', 'notifier', 'live'])[1 + n % 3], gen_random_uuid(), "
        "now() - interval '9 days' FROM generate_series(1, $1) AS n",
    ),
    "idempotency_keys": (
        2000,
        "INSERT INTO idempotency_keys (user_id, key, operation, result, created_at) SELECT "
        "'u', 'k' || n, 'create', '{}', now() - interval '2 days' FROM generate_series(1, $1) n",
    ),
    "webhook_deliveries": (
        2000,
        "INSERT INTO webhook_deliveries (delivery_id, event_id, user_id, attempts, last_status, "
        "delivered_at) SELECT gen_random_uuid(), gen_random_uuid(), 'u', 1, '204', "
        "now() - interval '9 days' FROM generate_series(1, $1)",
    ),
}


async def test_two_housekeepers_delete_each_row_once_between_them(replicas) -> None:
    conn = await asyncpg.connect(plain(replicas[0]))
    try:
        for rows, insert in AGED.values():
            await conn.execute(insert, rows)
    finally:
        await conn.close()
    retention = Retention(batch=40)
    # both replicas' hourly pass at once, each with its own pool
    deleted = await asyncio.gather(
        *(prune(lambda e=e: SqlUnitOfWork(e, SystemClock()), retention) for e in replicas)
    )
    for table, (rows, _) in AGED.items():
        assert deleted[0][table] + deleted[1][table] == rows, table
        assert await scalar(replicas[0], f"SELECT count(*) FROM {table}") == 0, table
    assert all(any(d.values()) for d in deleted), "both housekeepers took a share"
