"""Actors through the official SDK against the sidecar: invocation, state, reminders, timers,
turn-based concurrency and idle deactivation."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from dapr.clients.exceptions import DaprInternalError
from dapr.clients.http.dapr_actor_http_client import DaprActorHttpClient
from dapr.conf import settings
from dapr.proto.runtime.v1 import dapr_pb2_grpc, metadata_pb2
from dapr.serializers import DefaultJSONSerializer

from devstack.actor_pair import actor_pair, events, proxy, release_sdk
from devstack.processes import DaprPair, eventually, wait_until


@pytest.fixture(scope="module")
async def pair(make_database, runtime, tmp_path_factory) -> AsyncIterator[DaprPair]:
    database = await make_database("actors")
    pair = actor_pair(tmp_path_factory.mktemp("actors"), database, runtime)
    try:
        yield pair.start()
    finally:
        pair.stop()
        release_sdk()


@pytest.fixture
def state_client(pair: DaprPair) -> DaprActorHttpClient:
    return DaprActorHttpClient(DefaultJSONSerializer())


def count(pair: DaprPair, kind: str, actor: str, name: str | None = None) -> int:
    if name is None:
        return len(events(pair, kind=kind, actor=actor))
    return len(events(pair, kind=kind, actor=actor, name=name))


async def test_state_written_by_a_method_survives_deactivation(pair: DaprPair) -> None:
    actor = proxy("EphemeralActor", "persist-1")
    await actor.SetValue({"key": "greeting", "value": {"text": "hello"}})

    wait_until(lambda: count(pair, "deactivated", "persist-1") == 1, what="idle deactivation")

    assert await actor.GetValue("greeting") == {"text": "hello"}


async def test_an_actor_is_deactivated_only_after_it_is_idle(pair: DaprPair) -> None:
    actor = proxy("EphemeralActor", "idle-1")
    await actor.Increment()
    assert count(pair, "deactivated", "idle-1") == 0  # idle timeout is 1 s

    wait_until(lambda: count(pair, "deactivated", "idle-1") == 1, what="idle deactivation")

    assert await actor.Increment() == 2  # reactivated on the next call, state intact


async def test_metadata_lists_active_actors_by_type(pair: DaprPair) -> None:
    await proxy("CounterActor", "meta-1").Increment()
    await proxy("CounterActor", "meta-2").Increment()

    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{pair.http_port}/v1.0/metadata")
    metadata = response.json()

    counts = {entry["type"]: entry["count"] for entry in metadata["actorRuntime"]["activeActors"]}
    assert counts["CounterActor"] >= 2
    assert metadata["id"] == pair.app_id
    assert {"name": "statestore", "type": "state.postgresql", "version": "v2"}.items() <= {
        k: v for c in metadata["components"] if c["name"] == "statestore" for k, v in c.items()
    }.items()


async def test_fifty_concurrent_calls_to_one_actor_take_turns(pair: DaprPair) -> None:
    actor = proxy("CounterActor", "serial-1")

    results = await asyncio.gather(*(actor.Increment() for _ in range(50)))

    assert sorted(results) == list(range(1, 51))
    assert await actor.GetCount() == 50


async def test_calls_to_different_actors_run_in_parallel(pair: DaprPair) -> None:
    results = await asyncio.gather(
        *(proxy("CounterActor", f"par-{i}").Increment() for i in range(20))
    )
    assert results == [1] * 20


async def test_a_state_transaction_is_all_or_nothing(
    pair: DaprPair, state_client: DaprActorHttpClient
) -> None:
    actor = proxy("CounterActor", "atomic-1")
    await actor.SaveTwoKeys({"x": 1, "y": [2]})
    assert await state_client.get_state("CounterActor", "atomic-1", "x") == b"1"
    assert await state_client.get_state("CounterActor", "atomic-1", "y") == b"[2]"

    # The second key is too large for PostgreSQL's primary-key index: the write fails there.
    too_big = secrets.token_hex(6000)
    with pytest.raises(DaprInternalError):
        await actor.SaveTwoKeys({"a": 1, too_big: 2})

    assert await state_client.get_state("CounterActor", "atomic-1", "a") == b""


async def test_missing_state_reads_as_empty(state_client: DaprActorHttpClient) -> None:
    assert await state_client.get_state("CounterActor", "nobody", "nothing") == b""


async def test_state_with_a_ttl_expires(pair: DaprPair, state_client: DaprActorHttpClient) -> None:
    await proxy("CounterActor", "ttl-1").SetValue({"key": "short", "value": 7, "ttl": 1})
    assert await state_client.get_state("CounterActor", "ttl-1", "short") == b"7"

    async def expired() -> bool:
        return await state_client.get_state("CounterActor", "ttl-1", "short") == b""

    await eventually(expired, what="state ttl")


async def test_an_app_error_comes_back_as_a_500_with_the_apps_message(pair: DaprPair) -> None:
    with pytest.raises(DaprInternalError) as failure:
        await proxy("CounterActor", "fail-1").Fail()
    assert failure.value.status_code == 500
    assert b"this method always fails" in failure.value.raw_response_bytes


async def test_a_periodic_reminder_fires_until_unregistered(pair: DaprPair) -> None:
    actor = proxy("CounterActor", "rem-1")
    await actor.StartReminder({"name": "tick", "due": 0.2, "period": 0.2, "data": {"n": 1}})

    wait_until(lambda: count(pair, "reminder", "rem-1", "tick") >= 3, what="three ticks")
    await actor.StopReminder("tick")
    stopped_at = count(pair, "reminder", "rem-1", "tick")
    await actor.StartReminder({"name": "sentinel", "due": 1.0})
    wait_until(lambda: count(pair, "reminder", "rem-1", "sentinel") == 1, what="sentinel")

    assert count(pair, "reminder", "rem-1", "tick") <= stopped_at + 1  # at most one in flight
    assert all(e["data"] == {"n": 1} for e in events(pair, kind="reminder", name="tick"))


async def test_repetitions_and_one_shot_reminders_fire_exactly_that_often(pair: DaprPair) -> None:
    actor = proxy("CounterActor", "rem-2")
    await actor.StartReminder({"name": "thrice", "due": 0.1, "period": "R3/PT0.2S"})
    await actor.StartReminder({"name": "once", "due": 0.1})

    wait_until(lambda: count(pair, "reminder", "rem-2", "thrice") == 3, what="three repetitions")
    await actor.StartReminder({"name": "sentinel", "due": 1.0})
    wait_until(lambda: count(pair, "reminder", "rem-2", "sentinel") == 1, what="sentinel")

    assert count(pair, "reminder", "rem-2", "thrice") == 3
    assert count(pair, "reminder", "rem-2", "once") == 1


async def test_a_reminder_fires_on_an_inactive_actor(pair: DaprPair) -> None:
    actor = proxy("EphemeralActor", "rem-3")
    await actor.StartReminder({"name": "later", "due": 2.5})
    wait_until(lambda: count(pair, "deactivated", "rem-3") == 1, what="deactivation")

    wait_until(lambda: count(pair, "reminder", "rem-3", "later") == 1, what="reminder")

    [deactivated] = events(pair, kind="deactivated", actor="rem-3")
    [fired] = events(pair, kind="reminder", actor="rem-3", name="later")
    assert fired["at"] > deactivated["at"]


async def test_a_failing_reminder_is_retried_three_times_by_default(pair: DaprPair) -> None:
    actor = proxy("CounterActor", "rem-4")
    await actor.StartReminder({"name": "flaky", "data": {"fail_times": 3}})

    wait_until(lambda: count(pair, "reminder", "rem-4", "flaky") == 1, what="success", timeout=15)

    assert count(pair, "reminder-attempt", "rem-4", "flaky") == 4


async def test_a_timer_fires_periodically_until_unregistered(pair: DaprPair) -> None:
    actor = proxy("CounterActor", "timer-1")
    await actor.StartTimer({"name": "beat", "due": 0.1, "period": 0.1})

    wait_until(lambda: count(pair, "timer", "timer-1", "beat") >= 3, what="three beats")
    await actor.StopTimer("beat")
    stopped_at = count(pair, "timer", "timer-1", "beat")
    await actor.StartTimer({"name": "sentinel", "due": 0.5, "period": 10})
    wait_until(lambda: count(pair, "timer", "timer-1", "sentinel") == 1, what="sentinel")

    assert count(pair, "timer", "timer-1", "beat") <= stopped_at + 1


async def test_timers_die_when_their_actor_is_deactivated(pair: DaprPair) -> None:
    await proxy("EphemeralActor", "ghost-1").StartTimer({"name": "late", "due": 3, "period": 10})
    await proxy("CounterActor", "control-1").StartTimer({"name": "late", "due": 3.5, "period": 10})

    wait_until(lambda: count(pair, "timer", "control-1", "late") == 1, what="control timer")

    assert count(pair, "deactivated", "ghost-1") == 1
    assert count(pair, "timer", "ghost-1", "late") == 0


async def test_a_reentrant_actor_may_call_itself_within_its_turn(pair: DaprPair) -> None:
    actor = proxy("ReentrantActor", "re-1")
    await actor.Increment()

    assert await actor.CallSelf() == 101


async def test_reminders_are_refused_with_a_malformed_period(pair: DaprPair) -> None:
    with pytest.raises(DaprInternalError) as failure:
        await proxy("CounterActor", "bad-1").StartReminder({"name": "bad", "period": "P1Y"})
    assert failure.value.status_code == 500  # the app's call to the sidecar failed
    async with httpx.AsyncClient() as client:
        response = await client.put(
            f"http://127.0.0.1:{pair.http_port}/v1.0/actors/CounterActor/bad-1/reminders/bad",
            json={"dueTime": "soon"},
        )
    assert response.status_code == 400


async def test_with_an_api_token_only_callers_presenting_it_get_in(
    make_database, runtime, tmp_path, pair: DaprPair
) -> None:
    previous_endpoint = settings.DAPR_HTTP_ENDPOINT
    guarded = actor_pair(tmp_path, await make_database("actors_token"), runtime)
    guarded.extra_env["DAPR_API_TOKEN"] = "s3cret"  # the app's SDK sends it too
    settings.DAPR_API_TOKEN = "s3cret"
    try:
        guarded.start()
        assert await proxy("CounterActor", "token-1").Increment() == 1
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{guarded.http_port}") as client:
            refused = await client.post("/v1.0/actors/CounterActor/token-1/method/GetCount")
            health = await client.get("/v1.0/healthz")
        assert refused.status_code == 401
        assert health.status_code == 204
        async with grpc.aio.insecure_channel(f"127.0.0.1:{guarded.grpc_port}") as channel:
            stub = dapr_pb2_grpc.DaprStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await stub.GetMetadata(metadata_pb2.GetMetadataRequest())
            granted = await stub.GetMetadata(
                metadata_pb2.GetMetadataRequest(), metadata=(("dapr-api-token", "s3cret"),)
            )
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert granted.id == guarded.app_id
    finally:
        guarded.stop()
        del settings.DAPR_API_TOKEN
        settings.DAPR_HTTP_ENDPOINT = previous_endpoint
