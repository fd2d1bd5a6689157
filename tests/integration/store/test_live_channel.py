"""The live feed's channel between replicas on a real PostgreSQL: what one replica's live
consumer announces in its transaction reaches every replica's listener once, on commit
only; a large event goes by reference; a lost session or a database outage is survived."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.processes import eventually, pg_ctl
from domain.clock import SystemClock
from domain.events import Event, TaskCreated
from store.embedded_pg import ensure_database
from store.live_channel import CHANNEL, NOTIFY_MAX, LiveListener, notice
from store.uow import SqlUnitOfWork

FAST = (0.05, 0.2)  # the listener's reconnect back-off in these tests


class Sink:
    """A replica's hub as the listener sees it: what was published, how often resynced."""

    def __init__(self, users: set[str] | None = None) -> None:
        self.users = users
        self.events: list[Event] = []
        self.resyncs = 0

    def wants(self, user_id: str) -> bool:
        return self.users is None or user_id in self.users

    def publish(self, event: Event) -> None:
        if self.wants(event.user_id):  # as the hub: only its own users' streams get it
            self.events.append(event)

    def resync(self) -> None:
        self.resyncs += 1

    def ids(self) -> list[uuid.UUID]:
        return [e.event_id for e in self.events]


def created(user: str = "alice", description: str = "") -> TaskCreated:
    return TaskCreated(
        occurred_at=datetime(2027, 1, 4, tzinfo=UTC),
        user_id=user,
        task_id=uuid.uuid4(),
        data={"title": "a task", "description": description},
    )


@asynccontextmanager
async def listening(url: str, sink: Sink) -> AsyncIterator[LiveListener]:
    listener = LiveListener(url, sink, backoff=FAST, keepalive=0.5)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.stop()


async def holds(check: Callable[[], bool]) -> bool:
    return check()


def url_of(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def announce(engine: AsyncEngine, *events: Event, commit: bool = True) -> None:
    """As the live consumer does: the inbox row and the NOTIFY in one transaction."""
    async with SqlUnitOfWork(engine, SystemClock()) as uow:
        for event in events:
            await uow.live.announce(event)
        if commit:
            await uow.commit()


async def test_an_announced_event_reaches_every_replica_once_in_order(engine) -> None:
    a, b = Sink(), Sink()
    events = [created(), created("bob"), created()]
    async with listening(url_of(engine), a), listening(url_of(engine), b):
        await announce(engine, *events)
        for sink in (a, b):
            await eventually(lambda s=sink: holds(lambda: len(s.events) == 3), within=10)
        marker = created()  # announced last: once it is in, an extra copy would be too
        await announce(engine, marker)
        for sink in (a, b):
            await eventually(lambda s=sink: holds(lambda: marker in s.events), within=10)
    assert a.ids() == b.ids() == [e.event_id for e in [*events, marker]]
    assert a.events[1] == events[1]  # the whole event, with its user


async def test_nothing_is_announced_by_a_transaction_that_rolls_back(engine) -> None:
    sink = Sink()
    async with listening(url_of(engine), sink):
        await announce(engine, created(), commit=False)
        async with SqlUnitOfWork(engine, SystemClock()) as uow:  # a savepoint rolled back
            dropped, kept = created(), created()
            savepoint = await uow.conn.begin_nested()
            await uow.live.announce(dropped)
            await savepoint.rollback()
            await uow.live.announce(kept)
            await uow.commit()
        await eventually(lambda: holds(lambda: kept in sink.events), within=10)
    assert sink.ids() == [kept.event_id]


async def test_an_event_too_large_to_notify_is_read_back_from_the_outbox(engine) -> None:
    big = created(description="é" * 4000)  # 8000 bytes of description alone
    assert len(notice(big).encode()) < 200
    assert len(big.model_dump_json().encode()) >= NOTIFY_MAX
    async with SqlUnitOfWork(engine, SystemClock()) as uow:  # as the outbox holds it
        uow.record(big)
        await uow.commit()
    watching, elsewhere = Sink({"alice"}), Sink({"bob"})
    async with listening(url_of(engine), watching), listening(url_of(engine), elsewhere):
        await announce(engine, big)
        marker = created("bob")
        await announce(engine, marker)
        await eventually(lambda: holds(lambda: len(watching.events) == 1), within=10)
        await eventually(lambda: holds(lambda: marker in elsewhere.events), within=10)
    assert watching.events == [big]
    assert elsewhere.events == [marker]  # no stream of alice's there: nothing read


async def test_a_lost_session_reconnects_and_resyncs_the_streams(engine) -> None:
    sink = Sink()
    url = url_of(engine)
    async with listening(url, sink) as listener:
        assert listener.listening and sink.resyncs == 1
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN%' "
                "AND datname = current_database()"
            )
        finally:
            await admin.close()
        await eventually(lambda: holds(lambda: sink.resyncs == 2), within=10, what="relisten")
        after = created()
        await announce(engine, after)
        await eventually(lambda: holds(lambda: after in sink.events), within=10)


async def test_the_listener_waits_out_a_database_outage(own_postgres, caplog) -> None:
    admin, pgdata = own_postgres
    url = await ensure_database(admin, "live_outage")
    sink = Sink()

    async def notify(event: Event) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, notice(event))
        finally:
            await conn.close()

    async with listening(url, sink) as listener:
        await asyncio.to_thread(pg_ctl, pgdata, "stop")
        await eventually(lambda: holds(lambda: not listener.listening), within=10)
        await eventually(  # it keeps trying: the outage is logged, nothing raised
            lambda: holds(lambda: "live feed listener lost" in caplog.text), within=10
        )
        await asyncio.to_thread(pg_ctl, pgdata, "start")
        await eventually(lambda: holds(lambda: listener.listening), within=20, what="relisten")
        back = created()
        await notify(back)
        await eventually(lambda: holds(lambda: back in sink.events), within=10)
    assert sink.resyncs == 2


async def test_stopping_ends_the_listening_session(engine) -> None:
    url = url_of(engine)
    listening_sessions = (
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' "
        "AND pid <> pg_backend_pid() AND datname = current_database()"
    )
    admin = await asyncpg.connect(url)
    try:
        async with listening(url, Sink()):
            assert await admin.fetchval(listening_sessions) == 1

        async def gone() -> bool:
            return await admin.fetchval(listening_sessions) == 0

        await eventually(gone, within=10, what="the session closed")
    finally:
        await admin.close()
