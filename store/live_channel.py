"""The live feed's channel between replicas: PostgreSQL LISTEN/NOTIFY on `tickler_live`.

Dapr hands each task-updates event to one replica (the subscription is a consumer group),
while a user's streams (api/routes/stream.py) may be open on any replica. So the live
consumer does not feed its own process: it announces the event with NOTIFY inside the
transaction that records it handled (its inbox row), and every replica, itself included,
LISTENs on one dedicated connection and hands what arrives to its stream hub.

Why LISTEN/NOTIFY: every replica already has the database, so there is nothing new to run
or secure, and a notification reaches every listening session (a second pub/sub
subscription would need a consumer group per pod, which Dapr does not give a Deployment).

Why in the live consumer's transaction rather than the one that writes the outbox row:
- PostgreSQL sends a notification only if its transaction commits (a rolled-back savepoint
  drops its own), and the inbox row is claimed once across replicas, so each event is
  announced exactly once, however often Dapr redelivers it;
- committing a transaction that issued NOTIFY takes a cluster-wide lock, serialising such
  commits: in the outbox's transaction that would be every API write (measured ad hoc, 16
  writers on the embedded server and 2 shared cores: 5,000-9,800 commits/s plain, 3,400-
  4,500 with a NOTIFY each); here it is once per bulk delivery of up to 100 events;
- the stream keeps the one path it has with a single replica: outbox, relay, task-updates.

The payload is the event's JSON when that is under NOTIFY's 8000-byte limit (a task's
snapshot is about 700 bytes; a 4000-character description can pass it), otherwise a
reference, event id and user id: a listener reads that event back from the outbox, and
only when one of its streams is that user's.

What a replica's listener misses while its connection is down is lost to it. It reconnects
with backoff and, each time it starts listening, tells the hub to end its open streams
(`LiveSink.resync`): their clients reconnect with Last-Event-ID and are replayed from the
outbox what they missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any, Protocol

import asyncpg
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import Event, parse_event
from store.database import plain_url

log = logging.getLogger(__name__)

CHANNEL = "tickler_live"
NOTIFY_MAX = 8000  # PostgreSQL refuses a payload of this many bytes or more
_LOST = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def notice(event: Event) -> str:
    """The NOTIFY payload for `event`: the event itself, or a reference when too large."""
    inline = json.dumps({"event": event.model_dump(mode="json")}, separators=(",", ":"))
    if len(inline.encode()) < NOTIFY_MAX:
        return inline
    return json.dumps({"event_id": str(event.event_id), "user_id": event.user_id})


class SqlLiveChannel:
    """The announcing side, for a unit of work."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def announce(self, event: Event) -> None:
        """Send `event` to every replica's streams of its user, when this transaction commits."""
        await self._conn.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": notice(event)},
        )


class LiveSink(Protocol):
    """Where a replica's listener hands what arrives: its stream hub (api/routes/stream.py)."""

    def wants(self, user_id: str) -> bool:
        """Whether a stream of `user_id` is open here."""

    def publish(self, event: Event) -> None:
        """Send `event` to its user's open streams."""

    def resync(self) -> None:
        """End every open stream: events may have been missed, which a reconnecting client
        is replayed (Last-Event-ID)."""


class LiveListener:
    """One replica's LISTEN session. Notifications are handed on in the order they arrive
    (a reference is read back before the next one is handed on)."""

    def __init__(
        self,
        database_url: str,
        sink: LiveSink,
        *,
        backoff: tuple[float, float] = (0.5, 5.0),
        keepalive: float = 30.0,
    ) -> None:
        self._url = plain_url(database_url)
        self._sink = sink
        self._backoff = backoff
        self._keepalive = keepalive
        self._arrived: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one query at a time on the session
        self._listening = asyncio.Event()
        self._connected_once = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self, within: float = 5.0) -> None:
        """Start listening; waits up to `within` for the first LISTEN, so the app serves
        its first streams with the channel open (with the database away, it goes on
        trying in the background)."""
        self._tasks = [
            asyncio.create_task(self._run(), name="live-listener"),
            asyncio.create_task(self._deliver(), name="live-deliver"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), within)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay, failing = self._backoff[0], False
        while True:
            try:
                await self._listen()
                detail = "the connection closed"
            except _LOST as exc:
                detail = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            if self._connected_once:
                delay, failing = self._backoff[0], False  # it had worked: try again soon
            if not failing:
                log.warning("live feed listener lost (%s); reconnecting", detail)
            failing = True
            await asyncio.sleep(delay)  # a back-off, not a wait for a condition
            delay = min(delay * 2, self._backoff[1])

    async def _listen(self) -> None:
        """One session: returns or raises when it is lost."""
        self._connected_once = False
        conn = await asyncpg.connect(self._url, timeout=10)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notice)
            self._conn, self._connected_once = conn, True
            self._listening.set()
            self._sink.resync()  # streams opened while nothing listened may have missed events
            log.info("live feed listening on %s", CHANNEL)
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._keepalive)
                if not lost.is_set():  # a half-open TCP connection shows only on use
                    async with self._lock:
                        await conn.fetchval("SELECT 1", timeout=10)
        finally:
            self._listening.clear()
            self._conn = None
            if lost.is_set():
                conn.terminate()
            else:  # stopping: end the session properly, the server sees no broken socket
                with contextlib.suppress(*_LOST):
                    await conn.close(timeout=2)

    def _on_notice(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            doc = json.loads(payload)
            if not isinstance(doc, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError) as exc:
            log.error("ignoring a malformed live notice: %s", exc)
            return
        self._arrived.put_nowait(doc)

    async def _deliver(self) -> None:
        while True:
            doc = await self._arrived.get()
            try:
                event = await self._event(doc)
            except (KeyError, ValueError, TypeError, ValidationError) as exc:
                log.error("ignoring a malformed live notice: %s", exc)
                continue
            except _LOST as exc:  # the session went: its streams are resynced on reconnect
                log.warning("could not read a live event back: %s", exc)
                continue
            if event is not None:
                self._sink.publish(event)

    async def _event(self, doc: dict[str, Any]) -> Event | None:
        if "event" in doc:
            return parse_event(doc["event"])
        if not self._sink.wants(str(doc["user_id"])):
            return None  # no stream of that user here: nothing to read
        event_id = uuid.UUID(str(doc["event_id"]))
        conn = self._conn
        if conn is None:
            return None
        async with self._lock:
            payload = await conn.fetchval(
                "SELECT payload FROM outbox WHERE event_id = $1", event_id, timeout=10
            )
        if payload is None:
            log.warning("live event %s is no longer in the outbox", event_id)
            return None
        return parse_event(json.loads(payload) if isinstance(payload, str) else payload)
