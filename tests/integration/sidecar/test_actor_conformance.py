"""Where the dev sidecar's actors once answered more kindly than daprd: each case follows
daprd's source as ../shared/DAPR-CONTRACT.md ("Where the dev sidecar differed from daprd",
Actors, reminders and timers) records it, driven through the official SDK's ActorProxy,
`register_timer` and `register_reminder`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from dapr.clients.exceptions import DaprInternalError

from devstack.actor_pair import actor_pair, events, proxy, release_sdk
from devstack.processes import DaprPair, wait_until
from devstack.state_store import DB_ENV


@pytest.fixture(scope="module")
async def pair(make_database, runtime, tmp_path_factory) -> AsyncIterator[DaprPair]:
    database = await make_database("actor_conformance")
    pair = actor_pair(tmp_path_factory.mktemp("actor-conformance"), database, runtime)
    try:
        yield pair.start()
    finally:
        pair.stop()
        release_sdk()


def count(pair: DaprPair, kind: str, actor: str, name: str) -> int:
    return len(events(pair, kind=kind, actor=actor, name=name))


async def sentinel(pair: DaprPair, actor_id: str, due: float) -> None:
    """A later reminder of the same actor having fired proves time moved past `due`."""
    await proxy("CounterActor", actor_id).StartReminder({"name": "sentinel", "due": due})
    wait_until(lambda: count(pair, "reminder", actor_id, "sentinel") == 1, what="sentinel")


async def test_a_timer_with_a_period_of_zero_fires_once(pair: DaprPair) -> None:
    """pkg/actors/api/period.go, HasRepeats: a zero period (the SDK sends `0h0m0s0ms0μs`
    for `timedelta(0)`) means no repeats; daprd registers the timer, it fires once."""
    await proxy("CounterActor", "zero-1").StartTimer({"name": "once", "due": 0.1, "period": 0})

    wait_until(lambda: count(pair, "timer", "zero-1", "once") == 1, what="the one tick")
    await proxy("CounterActor", "zero-1").StartTimer({"name": "control", "due": 0.6})
    wait_until(lambda: count(pair, "timer", "zero-1", "control") == 1, what="control timer")

    assert count(pair, "timer", "zero-1", "once") == 1


async def test_a_timers_missed_ticks_are_caught_up(pair: DaprPair) -> None:
    """DAPR-CONTRACT.md "Timers: daprd catches up missed ticks": while the first callback
    holds the actor's turn for 1 s, four more 0.2 s ticks fall due; they come back to back
    once it ends, instead of collapsing into one."""
    actor = proxy("CounterActor", "catchup-1")
    await actor.StartTimer({"name": "beat", "due": 0.1, "period": 0.2, "hold_first": 1.0})

    wait_until(lambda: count(pair, "timer", "catchup-1", "beat") >= 6, what="six ticks")
    await actor.StopTimer("beat")
    ticks = [e["at"] for e in events(pair, kind="timer", actor="catchup-1", name="beat")]
    released = ticks[0] + 1.0
    caught_up = [t for t in ticks[1:] if t < released + 0.15]
    assert len(caught_up) >= 4, [round(t - ticks[0], 3) for t in ticks]


async def test_an_actor_method_error_comes_back_as_daprd_wraps_it(pair: DaprPair) -> None:
    """daprd answers 500 `ERR_ACTOR_INVOKE_METHOD` with "error from actor service: (<the
    app's status>) <its body>", never the app's own response (DAPR-CONTRACT.md, "Actor
    invoke errors"; pkg/actors/targets/app)."""
    with pytest.raises(DaprInternalError) as failure:
        await proxy("CounterActor", "fail-2").Fail()

    error = failure.value.as_dict()
    assert failure.value.status_code == 500
    assert error["errorCode"] == "ERR_ACTOR_INVOKE_METHOD"
    assert error["message"].startswith("error from actor service: (500) ")
    assert "this method always fails" in error["message"]


async def test_a_fired_reminder_carries_empty_due_time_and_period(pair: DaprPair) -> None:
    """When the Scheduler fires a reminder, daprd's callback body has `dueTime` and
    `period` as "" whatever was registered (pkg/actors/internal/scheduler, the streamer's
    invokeActorReminder); the SDK hands those strings to `receive_reminder` as they come."""
    actor = proxy("CounterActor", "body-1")
    await actor.StartReminder({"name": "tick", "due": 0.1, "period": 0.3, "data": {"n": 7}})

    wait_until(lambda: count(pair, "reminder", "body-1", "tick") >= 2, what="two ticks")
    await actor.StopReminder("tick")
    fired = events(pair, kind="reminder-attempt", actor="body-1", name="tick")
    assert {(e["due_time"], e["period"], e["ttl"]) for e in fired} == {("", "", None)}
    assert all(e["data"] == {"n": 7} for e in fired)


async def test_a_reminders_ttl_counts_from_its_due_time(pair: DaprPair) -> None:
    """The ttl runs from the due time, not from registration (DAPR-CONTRACT.md): a ttl of
    0.7 s on a reminder due in 1 s still lets it tick at 1.0, 1.3 and 1.6 s, then ends."""
    actor = proxy("CounterActor", "ttl-2")
    await actor.StartReminder({"name": "brief", "due": 1.0, "period": 0.3, "ttl": 0.7})

    wait_until(lambda: count(pair, "reminder", "ttl-2", "brief") >= 1, what="a first tick")
    await sentinel(pair, "ttl-2", 2.0)

    assert 2 <= count(pair, "reminder", "ttl-2", "brief") <= 3


async def test_the_sdks_failure_policy_is_ignored(pair: DaprPair) -> None:
    """The SDK sends `failurePolicy`; daprd reads `failure_policy`, so an SDK reminder asking
    to drop failures still gets the default policy, three retries (DAPR-CONTRACT.md)."""
    actor = proxy("CounterActor", "policy-1")
    await actor.StartReminder({"name": "flaky", "data": {"fail_times": 2}, "drop_failures": True})

    wait_until(lambda: count(pair, "reminder", "policy-1", "flaky") == 1, what="the retry")
    assert count(pair, "reminder-attempt", "policy-1", "flaky") == 3


@pytest.mark.dev_sidecar("wipes the dev sidecar's reminder table, its stand-in for the Scheduler")
async def test_reminders_live_apart_from_actor_state(pair: DaprPair) -> None:
    """daprd keeps reminders in the Scheduler's etcd, not in the actor state store
    (DAPR-CONTRACT.md). The dev sidecar keeps them in `dapr_reminders`: with the sidecar
    stopped, deleting those rows is a Scheduler that lost its data. The reminder is gone
    for good; the actor's state is untouched."""
    actor = proxy("CounterActor", "wipe-1")
    assert await actor.Increment() == 1
    await actor.StartReminder({"name": "lost", "due": 2.0})
    database = pair.extra_env[DB_ENV]

    pair.sidecar.stop()
    conn = await asyncpg.connect(database)
    try:
        wiped = await conn.execute("DELETE FROM dapr_reminders WHERE actor_id = 'wipe-1'")
    finally:
        await conn.close()
    assert wiped == "DELETE 1"
    await asyncio.to_thread(pair.start_sidecar)
    await asyncio.to_thread(pair.wait_sidecar_ready)

    await sentinel(pair, "wipe-1", 3.0)
    assert count(pair, "reminder-attempt", "wipe-1", "lost") == 0
    assert await actor.GetCount() == 1
