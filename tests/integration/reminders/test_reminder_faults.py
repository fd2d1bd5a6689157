"""Reminders across the faults real Dapr has: a Scheduler that lost its reminders, and a
PostgreSQL outage at the moment a reminder falls due.

The stack runs on a PostgreSQL server of this module's own, so stopping it disturbs no other
module. Scheduler data loss is stood for as DAPR-CONTRACT.md describes the dev sidecar's
reminder store: reminders live in `dapr_reminders`, apart from actor state, as daprd keeps
them in the Scheduler's etcd; stopping the sidecar, deleting the rows and starting it again
is a Scheduler that came back empty while every actor still believes its reminder is armed.

Reminder times are on the stack's clock (devstack.clock), which the tests move forward. The
reconcile runs on the app's own real-time interval, RECONCILE_S.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.auth import issue_token
from devstack.clock import DevClock
from devstack.processes import DaprPair, TansuBroker, eventually, pg_ctl
from devstack.stack import SECRET, app_pair, kafka_resources
from store.database import migrate, plain_url
from store.embedded_pg import ensure_database, start_embedded

RECONCILE_S = 3.0
RETRY_S = 1.0
# The first line of the actor's "reminder {...} could not be recorded; will retry" error in
# the app's log (its console handler wraps the rest of the message)
RECORD_FAILED = "reminder {'reminder_id'"


@pytest.fixture(scope="module")
def own_module_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    pgdir = tmp_path_factory.mktemp("reminder-faults-pg") / "pg"
    uri = start_embedded(pgdir)
    yield uri, pgdir / "pgdata"
    pg_ctl(pgdir / "pgdata", "stop")  # after a restart the server is not the wheel's child


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reminder-faults")


@pytest.fixture(scope="module")
def clock(workdir: Path, runtime: str) -> DevClock:
    return DevClock(workdir / "clock", controllable=runtime != "dapr")


@pytest.fixture(scope="module")
async def pair(
    own_module_postgres: tuple[str, Path], workdir: Path, clock: DevClock
) -> AsyncIterator[DaprPair]:
    url = await ensure_database(own_module_postgres[0], "reminder_faults", fresh=True)
    await asyncio.to_thread(migrate, url)
    broker = TansuBroker(workdir / "tansu.log").start()
    pair = app_pair(
        url,
        SECRET,
        kafka_resources(workdir, broker.address),
        workdir,
        runtime="dapr" if not clock.controllable else "dev",
        clock=clock,
        TICKLER_REMINDER_RECONCILE_INTERVAL_S=str(RECONCILE_S),
        TICKLER_REMINDER_RETRY_DELAY_S=str(RETRY_S),
    )
    await asyncio.to_thread(pair.start)
    try:
        yield pair
    finally:
        await asyncio.to_thread(pair.stop)
        broker.kill()


def client(pair: DaprPair, user: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{pair.app_port}",
        headers={"Authorization": f"Bearer {issue_token(SECRET, user)}"},
        timeout=30,
    )


async def query(pair: DaprPair, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(plain_url(pair.extra_env["DATABASE_URL"]))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def due_events(pair: DaprPair, reminder_id: str) -> int:
    return await query(
        pair,
        "SELECT count(*) FROM outbox WHERE type = 'reminder.due' "
        "AND payload -> 'data' ->> 'reminder_id' = $1",
        reminder_id,
    )


async def reconcile_passes(pair: DaprPair, user: str, passes: int) -> None:
    """Wait for `passes` reconciles of `user`'s schedule: each re-registers its actor
    reminder, which gives the reminder a new etag."""
    sql = "SELECT etag FROM dapr_reminders WHERE actor_id = $1"
    seen = [await query(pair, sql, user)]

    async def re_registered() -> bool:
        etag = await query(pair, sql, user)
        if etag is None or etag == seen[-1]:
            return False
        seen.append(etag)
        return True

    for _ in range(passes):
        await eventually(re_registered, within=RECONCILE_S * 2 + 5, what="a reconcile pass")


def lead(clock: DevClock) -> timedelta:
    """How far ahead a test sets its reminders: against daprd, whose clock no test can move,
    `advance` waits real time."""
    return timedelta(hours=1) if clock.controllable else timedelta(seconds=3)


async def past(clock: DevClock, instant: datetime) -> None:
    await clock.advance(max(instant - clock.now(), timedelta(0)) + timedelta(seconds=1))


async def with_reminder(c: httpx.AsyncClient, at: datetime, title: str) -> tuple[str, datetime]:
    body = {"title": title, "reminders": [{"at": at.isoformat()}]}
    r = await c.post("/v1/tasks", json=body)
    assert r.status_code == 201, r.text
    reminder = r.json()["reminders"][0]
    return reminder["id"], datetime.fromisoformat(reminder["fire_at"])


@pytest.mark.dev_sidecar("wipes the dev sidecar's reminder table, its stand-in for the Scheduler")
async def test_reminders_a_wiped_scheduler_lost_fire_once_after_the_reconcile(
    pair: DaprPair, clock: DevClock
) -> None:
    async with client(pair, "wiped") as c:
        soon, soon_at = await with_reminder(c, clock.now() + lead(clock), "soon")
        later, later_at = await with_reminder(c, clock.now() + lead(clock) * 2, "later")

        async def armed() -> bool:  # the schedule actor arms after the task.created event
            return await query(pair, "SELECT count(*) FROM dapr_reminders") >= 1

        await eventually(armed, within=10, what="the schedule's reminder")

        await asyncio.to_thread(pair.sidecar.stop)
        await query(pair, "DELETE FROM dapr_reminders")
        assert await query(pair, "SELECT count(*) FROM dapr_reminders") == 0
        await asyncio.to_thread(pair.start_sidecar)
        await asyncio.to_thread(pair.wait_sidecar_ready)
        # within one reconcile interval (+1 s) of the Scheduler's return, the actor's
        # reminder is back
        await eventually(armed, within=RECONCILE_S + 1, what="the reconcile re-arming")

        async def fired(reminder_id: str) -> bool:
            return await due_events(pair, reminder_id) == 1

        await past(clock, soon_at)
        await eventually(lambda: fired(soon), within=10, what="the soon reminder")
        assert await due_events(pair, later) == 0
        await past(clock, later_at)
        await eventually(lambda: fired(later), within=10, what="the later reminder")
        # the next reconcile passes re-register what is left, and re-fire nothing
        control, control_at = await with_reminder(c, clock.now() + lead(clock), "control")
        await reconcile_passes(pair, "wiped", 2)
        await past(clock, control_at)
        await eventually(lambda: fired(control), within=10, what="control")
    assert (await due_events(pair, soon), await due_events(pair, later)) == (1, 1)


async def test_a_reminder_due_while_postgresql_is_down_fires_once_when_it_is_back(
    pair: DaprPair, clock: DevClock, own_module_postgres: tuple[str, Path]
) -> None:
    pgdata = own_module_postgres[1]
    retry = timedelta(seconds=RETRY_S)
    async with client(pair, "outage") as c:
        reminder, fire_at = await with_reminder(c, clock.now() + lead(clock), "during the outage")

        async def armed() -> bool:
            sql = "SELECT count(*) FROM dapr_reminders WHERE actor_id = 'outage'"
            return await query(pair, sql) == 1

        await eventually(armed, within=10, what="the schedule's reminder")
        failures_before = pair.app.log().count(RECORD_FAILED)

        def failures() -> int:
            return pair.app.log().count(RECORD_FAILED) - failures_before

        await asyncio.to_thread(pg_ctl, pgdata, "stop")
        try:
            await past(clock, fire_at)

            async def recording_failed() -> bool:
                return failures() >= 1

            await eventually(recording_failed, within=20, what="a failed recording")
            # Three retry delays pass. Proving that nothing loops needs a window to look
            # through, and an absence is no condition to wait on: one real retry delay.
            for _ in range(3):
                await clock.advance(retry)
            await asyncio.sleep(RETRY_S)
            tries = failures()
        finally:
            await asyncio.to_thread(pg_ctl, pgdata, "start")
        # at most one try per retry delay, not one per failure as fast as they come (the
        # turn that failed waits on the sidecar's state save, which waits for PostgreSQL)
        assert 1 <= tries <= 1 + 3, tries

        async def fired() -> bool:
            try:
                if await due_events(pair, reminder) >= 1:
                    return True
            except (OSError, asyncpg.PostgresError):
                pass
            await clock.advance(retry)  # the next try comes one retry delay on
            return False

        await eventually(fired, within=RETRY_S * 10 + 10, what="the reminder after the outage")
        # later fires of the same user's schedule prove it moved on without a repeat
        control, control_at = await with_reminder(c, clock.now() + lead(clock), "ctl")
        await past(clock, control_at)
        await eventually(lambda: due_events(pair, control), within=20, what="control reminder")
    assert await due_events(pair, reminder) == 1
