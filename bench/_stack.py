"""The whole stack for the end-to-end benchmarks: a fresh migrated database (embedded, or
on DATABASE_URL's server), a Tansu broker, the dev sidecar and the app, as `make dev` runs
them. TICKLER_BENCH_PUBSUB=postgres runs the dev sidecar's own PostgreSQL transport
(components/dev-postgres-pubsub) instead of Kafka, for figures to compare."""

from __future__ import annotations

import asyncio
import atexit
import os
import tempfile
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from api.dev_broker import Broker, local_resources
from bench._common import (
    bench_database,
    machine,
    postmaster_pid,
    process_cpu,
    server_tree_cpu,
)
from devstack.processes import DaprPair, free_port
from devstack.stack import app_pair
from domain.events import DEAD_LETTERS, REMINDERS, TASK_EVENTS, TASK_UPDATES
from store.database import plain_url

__all__ = ["SECRET", "machine", "start_stack"]

ROOT = Path(__file__).resolve().parents[1]

SECRET = "bench-secret-0123456789abcdefghijklmnop"


PUBSUB = os.environ.get("TICKLER_BENCH_PUBSUB", "kafka")
TOPICS = (TASK_EVENTS, REMINDERS, TASK_UPDATES, DEAD_LETTERS)
# database URL -> (brokers, consumer group) of the stack on it, for `drained`
_kafka: dict[str, tuple[str, str]] = {}


def start_stack(name: str) -> tuple[DaprPair, str]:
    """Started pair and its database URL; the caller stops the pair. The broker stops as
    the bench exits, after the pair, as `tickler dev` stops it."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    url = asyncio.run(bench_database(work / "pg", f"bench_{name}", fresh=True))
    if PUBSUB == "postgres":
        resources = ROOT / "components" / "dev-postgres-pubsub"
    else:
        broker = Broker(free_port()).start((work / "tansu.log").open("ab"))
        atexit.register(broker.stop)
        group = f"bench-{uuid.uuid4().hex[:8]}"
        resources = local_resources(work / "resources", broker.address, consumerGroup=group)
        _kafka[url] = (broker.address, group)
    pair = app_pair(url, SECRET, resources, work)
    pair.start()
    return pair, url


class CpuMeter:
    """CPU seconds spent by the app, the sidecar and the PostgreSQL server (postmaster and
    backends, when it runs on this machine) between `start()` and `stop()`."""

    def __init__(self, pair: DaprPair, database_url: str) -> None:
        self._processes = {"app": pair.app.popen.pid, "sidecar": pair.sidecar.popen.pid}
        self._postmaster = asyncio.run(postmaster_pid(plain_url(database_url)))
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        totals = {name: process_cpu(pid) for name, pid in self._processes.items()}
        if self._postmaster is not None:
            totals["postgres"] = server_tree_cpu(self._postmaster)
        return totals

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        end = self._now()
        return {name: end[name] - self._start[name] for name in end}


async def drained(database_url: str, patience: float = 300.0) -> None:
    """Wait until every outbox event is published and every subscription has handled every
    message: a measurement that starts earlier pays for the setup's event backlog."""
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        deadline = asyncio.get_running_loop().time() + patience
        while await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        ) or await _undelivered(conn, database_url):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the event backlog did not drain")
            await asyncio.sleep(0.2)  # polling a condition, not a guess at a duration
    finally:
        await conn.close()


async def _undelivered(conn: asyncpg.Connection, database_url: str) -> int:
    """Messages the sidecar has not settled: behind the cursors (PostgreSQL transport) or
    behind the consumer group's committed offsets (Kafka)."""
    if database_url not in _kafka:
        return await conn.fetchval(
            """
            SELECT count(*) FROM dapr_pubsub_messages m
            JOIN dapr_pubsub_cursors c ON c.topic = m.topic AND c.pubsub = m.pubsub
            WHERE m.id > c.position
            """
        )
    brokers, group = _kafka[database_url]
    # committed() asks the group coordinator without joining the group; the admin client's
    # OffsetFetch is a version Tansu 0.6 answers in a shape aiokafka cannot parse
    consumer = AIOKafkaConsumer(bootstrap_servers=brokers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        known = await consumer.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in TOPICS
            if topic in known
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return sum([end - (await consumer.committed(tp) or 0) for tp, end in ends.items()])
    finally:
        await consumer.stop()
