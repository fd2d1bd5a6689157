"""`pubsub.postgresql`: the dev sidecar's own durable transport, two tables in PostgreSQL.

`dapr_pubsub_messages` is an append-only log per (pubsub, topic); `dapr_pubsub_cursors` holds,
per subscriber (the app id, or metadata `consumerID`) and topic, the id up to which every
message is settled. Messages after the cursor are redelivered after a crash: at-least-once.

Publishes are group-committed by one writer task per component, under a transaction-scoped
advisory lock, so ids become visible in id order and a consumer reading `id > cursor` never
skips a row committed late. A publish wakes the local consumer of its topic at once; a slow
poll (`pollInterval`, default 1s) picks up rows written by other processes.

Delivery is concurrent within a topic (`maxConcurrentDeliveries`, default 16) and ordered per
`partitionKey`, the way Kafka orders per partition. Metadata: `connectionString`,
`initialOffset` (`oldest`, the default, or `newest`: where a new subscriber starts),
`retentionPeriod` (default 168h: older messages are deleted, as are expired ones).

A bulk subscription goes through daprd's default bulk subscriber (sidecar/pubsub/bulk.py
DefaultBulkSubscriber): at least `maxMessagesCount` messages of its topic are in flight at
once so a batch can fill, and the cursor still moves only past settled messages, in id order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from sidecar.components import Component
from sidecar.database import retrying
from sidecar.durations import parse_duration
from sidecar.pubsub.bulk import DefaultBulkSubscriber
from sidecar.pubsub.transport import BulkSpec, Handler
from sidecar.resiliency import Retry

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS dapr_pubsub_messages (
    id bigserial PRIMARY KEY,
    pubsub text NOT NULL,
    topic text NOT NULL,
    partition_key text,
    body bytea NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS dapr_pubsub_messages_topic_idx
    ON dapr_pubsub_messages (pubsub, topic, id);
CREATE INDEX IF NOT EXISTS dapr_pubsub_messages_expires_idx
    ON dapr_pubsub_messages (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS dapr_pubsub_cursors (
    subscriber text NOT NULL,
    pubsub text NOT NULL,
    topic text NOT NULL,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber, pubsub, topic)
);
"""

INSERT = """
INSERT INTO dapr_pubsub_messages (pubsub, topic, partition_key, body, expires_at)
SELECT $1, t, k, b, CASE WHEN s IS NULL THEN NULL ELSE now() + s * interval '1 second' END
FROM unnest($2::text[], $3::text[], $4::bytea[], $5::float8[]) AS u(t, k, b, s)
"""

FETCH = """
SELECT id, partition_key, body, coalesce(expires_at <= now(), false) AS expired
FROM dapr_pubsub_messages
WHERE pubsub = $1 AND topic = $2 AND id > $3
ORDER BY id
LIMIT $4
"""

OPEN_CURSOR = """
INSERT INTO dapr_pubsub_cursors (subscriber, pubsub, topic, position)
VALUES ($1, $2, $3, CASE WHEN $4 THEN 0 ELSE (
    SELECT coalesce(max(id), 0) FROM dapr_pubsub_messages WHERE pubsub = $2 AND topic = $3
) END)
ON CONFLICT (subscriber, pubsub, topic) DO UPDATE SET position = dapr_pubsub_cursors.position
RETURNING position
"""

SAVE_CURSOR = """
UPDATE dapr_pubsub_cursors SET position = greatest(position, $4), updated_at = now()
WHERE subscriber = $1 AND pubsub = $2 AND topic = $3
"""

CLEANUP = """
DELETE FROM dapr_pubsub_messages
WHERE pubsub = $1 AND (expires_at < now() OR published_at < now() - $2::interval)
"""

_BATCH = 1000
_CLEANUP_EVERY = 60.0
_SAVE_BACKOFF_MAX = 5.0


def _lock_key(text: str) -> int:
    """A stable bigint for pg_advisory_xact_lock (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


@dataclass
class _Pending:
    topic: str
    key: str | None
    body: bytes
    ttl: float | None
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class PostgresTransport:
    def __init__(self, component: Component, pool: asyncpg.Pool, subscriber: str) -> None:
        metadata = component.metadata
        self._name = component.name
        self._component_retry = Retry.from_component_metadata(metadata)
        self._bulk: list[DefaultBulkSubscriber] = []
        self._lock = _lock_key(f"dapr_pubsub:{component.name}")
        self._pool = pool
        self._subscriber = metadata.get("consumerID") or subscriber
        self._from_oldest = metadata.get("initialOffset", "oldest").strip().lower() != "newest"
        self._poll = parse_duration(metadata.get("pollInterval") or "1s").total_seconds()
        self._max_in_flight = int(metadata.get("maxConcurrentDeliveries") or 16)
        self._retention = parse_duration(metadata.get("retentionPeriod") or "168h")
        self._pending: list[_Pending] = []
        self._wake_writer = asyncio.Event()
        self._consumers: dict[str, _TopicConsumer] = {}
        self._tasks: list[asyncio.Task] = []

    @classmethod
    async def open(
        cls, component: Component, pool: asyncpg.Pool, subscriber: str
    ) -> PostgresTransport:
        transport = cls(component, pool, subscriber)
        async with pool.acquire() as conn, conn.transaction():
            # concurrent CREATE ... IF NOT EXISTS can still collide; serialize sidecars here
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key("dapr_pubsub:schema"))
            await conn.execute(SCHEMA)
        transport._tasks = [
            asyncio.create_task(transport._write_loop(), name=f"pubsub-writer-{component.name}"),
            asyncio.create_task(transport._cleanup_loop(), name=f"pubsub-cleanup-{component.name}"),
        ]
        return transport

    async def publish(
        self, topic: str, body: bytes, *, key: str | None = None, ttl: timedelta | None = None
    ) -> None:
        pending = _Pending(topic, key, body, ttl.total_seconds() if ttl is not None else None)
        self._pending.append(pending)
        self._wake_writer.set()
        await pending.done

    async def subscribe(
        self, topics: list[str], handler: Handler, bulk: dict[str, BulkSpec] | None = None
    ) -> None:
        """`bulk`: the topics delivered in batches, with their batch size, wait and handler."""
        consumers = [(topic, handler, self._max_in_flight) for topic in topics]
        for topic, (max_messages, max_await, bulk_handler) in (bulk or {}).items():
            batcher = DefaultBulkSubscriber(
                topic, bulk_handler, max_messages, max_await, self._component_retry
            )
            self._bulk.append(batcher)
            consumers.append((topic, batcher, max(self._max_in_flight, max_messages)))
        for topic, topic_handler, in_flight in consumers:
            consumer = _TopicConsumer(self, topic, topic_handler, in_flight)
            self._consumers[topic] = consumer
            self._tasks.append(asyncio.create_task(consumer.run(), name=f"pubsub-{topic}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for batcher in self._bulk:
            await batcher.close()
        for pending in self._pending:
            if not pending.done.done():
                pending.done.set_exception(ConnectionError("pubsub transport closed"))

    async def _write_loop(self) -> None:
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            while self._pending:
                batch, self._pending = self._pending[:_BATCH], self._pending[_BATCH:]
                try:
                    await self._insert(batch)
                except Exception as exc:  # report to each publisher; the writer keeps going
                    log.error(
                        "publishing %d messages to %s failed: %s", len(batch), self._name, exc
                    )
                    for pending in batch:
                        if not pending.done.done():
                            pending.done.set_exception(exc)
                    continue
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_result(None)
                for topic in {pending.topic for pending in batch}:
                    if consumer := self._consumers.get(topic):
                        consumer.wake()

    async def _insert(self, batch: list[_Pending]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock)
            await conn.execute(
                INSERT,
                self._name,
                [p.topic for p in batch],
                [p.key for p in batch],
                [p.body for p in batch],
                [p.ttl for p in batch],
            )

    async def _cleanup_loop(self) -> None:
        while True:
            try:
                await self._pool.execute(CLEANUP, self._name, self._retention)
            except Exception as exc:  # housekeeping; the next round tries again
                log.warning("pubsub cleanup on %s failed: %r", self._name, exc)
            await asyncio.sleep(_CLEANUP_EVERY)  # housekeeping period, nothing to wait on


class _TopicConsumer:
    """Feeds one topic's messages to the handler and keeps the subscriber's cursor."""

    def __init__(
        self,
        transport: PostgresTransport,
        topic: str,
        handler: Handler,
        max_in_flight: int | None = None,
    ) -> None:
        self._t = transport
        self._topic = topic
        self._handler = handler
        self._wake = asyncio.Event()
        self._dirty = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight or transport._max_in_flight)
        self._position = 0  # every id <= position is settled
        self._fetched = 0  # highest id handed to a delivery
        self._order: deque[int] = deque()
        self._settled: set[int] = set()
        self._tails: dict[str, asyncio.Task] = {}  # last delivery per partition key
        self._deliveries: set[asyncio.Task] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        t = self._t
        self._position = self._fetched = await retrying(
            lambda: t._pool.fetchval(
                OPEN_CURSOR, t._subscriber, t._name, self._topic, t._from_oldest
            ),
            what=f"open the cursor of {t._name}/{self._topic}",
            give_up_after=float("inf"),  # a consumer that gave up would leave its topic unread
        )
        saver = asyncio.create_task(self._save_loop())
        try:
            while True:
                self._wake.clear()  # before the fetch, so a publish during it is not missed
                try:
                    rows = await t._pool.fetch(FETCH, t._name, self._topic, self._fetched, _BATCH)
                except Exception as exc:  # whatever the database did, keep the topic alive
                    log.warning("reading %s/%s failed: %r", t._name, self._topic, exc)
                    rows = []
                if not rows:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), t._poll)
                    continue
                for row in rows:
                    await self._slots.acquire()
                    self._start(row)
        finally:
            for task in [*self._deliveries, saver]:
                task.cancel()
            await asyncio.gather(*self._deliveries, saver, return_exceptions=True)
            await self._save()

    def _start(self, row: asyncpg.Record) -> None:
        message_id, key = row["id"], row["partition_key"]
        self._fetched = message_id
        self._order.append(message_id)
        previous = self._tails.get(key) if key is not None else None
        task = asyncio.create_task(
            self._deliver(message_id, key, row["body"], row["expired"], previous)
        )
        if key is not None:
            self._tails[key] = task
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(
        self,
        message_id: int,
        key: str | None,
        body: bytes,
        expired: bool,
        previous: asyncio.Task | None,
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])  # keep per-key order
            try:
                await self._handler(self._topic, body, expired)
            except Exception:  # the handler settles every message; a bug must not wedge the topic
                log.exception(
                    "delivering message %s on %s/%s", message_id, self._t._name, self._topic
                )
            self._settle(message_id)
        finally:
            self._slots.release()
            if key is not None and self._tails.get(key) is asyncio.current_task():
                del self._tails[key]

    def _settle(self, message_id: int) -> None:
        self._settled.add(message_id)
        advanced = False
        while self._order and self._order[0] in self._settled:
            self._position = self._order.popleft()
            self._settled.discard(self._position)
            advanced = True
        if advanced:
            self._dirty.set()

    async def _save_loop(self) -> None:
        """Saves the cursor whenever it moved. It must outlive any failure: a loop that
        ended let deliveries go on while the cursor stayed behind, so every later restart
        replayed a growing backlog (a PostgreSQL restart once raised InternalClientError,
        which an exception list here did not name)."""
        delay = self._t._poll
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if await self._save():
                delay = self._t._poll
                continue
            self._dirty.set()
            await asyncio.sleep(delay)  # back off while the database is unavailable
            delay = min(delay * 2, _SAVE_BACKOFF_MAX)

    async def _save(self) -> bool:
        t = self._t
        try:
            await t._pool.execute(SAVE_CURSOR, t._subscriber, t._name, self._topic, self._position)
        except Exception as exc:  # any failure: report it, and the loop tries again
            log.warning("saving the cursor of %s/%s failed: %r", t._name, self._topic, exc)
            return False
        return True
