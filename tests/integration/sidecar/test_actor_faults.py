"""Actor reminders and state across a killed sidecar and a restarted PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.actor_pair import actor_pair, events, proxy, release_sdk
from devstack.processes import DaprPair, pg_ctl, wait_until
from store.embedded_pg import ensure_database

pytestmark = pytest.mark.slow


def count(pair: DaprPair, kind: str, actor: str, name: str) -> int:
    return len(events(pair, kind=kind, actor=actor, name=name))


@pytest.fixture
async def pair(make_database, runtime, tmp_path: Path) -> AsyncIterator[DaprPair]:
    pair = actor_pair(tmp_path, await make_database("actor_faults"), runtime)
    try:
        yield pair.start()
    finally:
        pair.stop()
        release_sdk()


def restart_sidecar(pair: DaprPair) -> None:
    pair.start_sidecar()
    pair.wait_sidecar_ready()


async def test_a_reminder_in_flight_when_the_sidecar_is_killed_is_delivered_again(
    pair: DaprPair,
) -> None:
    actor = proxy("CounterActor", "crash-1")
    await actor.StartReminder({"name": "slow", "due": 0.1, "data": {"hold": 1.0}})
    wait_until(lambda: count(pair, "reminder-attempt", "crash-1", "slow") == 1, what="delivery")

    pair.sidecar.kill()  # the app has the reminder; the sidecar never heard back
    restart_sidecar(pair)

    wait_until(lambda: count(pair, "reminder-attempt", "crash-1", "slow") >= 2, what="redelivery")
    wait_until(lambda: count(pair, "reminder", "crash-1", "slow") >= 2, what="redelivered tick")


async def test_a_reminder_due_while_the_sidecar_was_down_fires_once_after_restart(
    pair: DaprPair,
) -> None:
    actor = proxy("CounterActor", "down-1")
    await actor.StartReminder({"name": "missed", "due": 1.0, "period": 3600})
    await actor.StartReminder({"name": "sentinel", "due": 1.5})
    due = time.time() + 1.5

    pair.sidecar.kill()
    wait_until(lambda: time.time() > due, what="both reminders to fall due")
    restart_sidecar(pair)

    wait_until(lambda: count(pair, "reminder", "down-1", "sentinel") == 1, what="sentinel")
    wait_until(lambda: count(pair, "reminder", "down-1", "missed") == 1, what="missed tick")
    assert count(pair, "reminder", "down-1", "missed") == 1  # next tick is an hour away


async def test_the_sidecar_recovers_when_postgresql_restarts(
    own_postgres: tuple[str, Path], runtime: str, tmp_path: Path
) -> None:
    admin_uri, pgdata = own_postgres
    database = await ensure_database(admin_uri, "restarts", fresh=True)
    pair = actor_pair(tmp_path / "pair", database, runtime)
    try:
        pair.start()
        actor = proxy("CounterActor", "pg-1")
        assert await actor.Increment() == 1
        await actor.StartReminder({"name": "tick", "due": 0.1, "period": 0.2})
        wait_until(lambda: count(pair, "reminder", "pg-1", "tick") >= 1, what="first tick")

        pg_ctl(pgdata, "restart")
        ticks_at_restart = count(pair, "reminder", "pg-1", "tick")

        assert await actor.Increment() == 2
        wait_until(
            lambda: count(pair, "reminder", "pg-1", "tick") >= ticks_at_restart + 3,
            what="ticks after the restart",
        )
        assert await actor.GetCount() == 2
    finally:
        pair.stop()
        release_sdk()
