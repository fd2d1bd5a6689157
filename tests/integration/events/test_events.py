"""Events end to end through HTTP, the dev sidecar's PostgreSQL pub/sub and real PostgreSQL:
outbox relay, consumers (audit, notifier with webhook, live stream), and a sidecar outage."""

from __future__ import annotations

from devstack.stack import Stack
from tests.integration.events import scenarios
from tests.integration.stack_fixture import stack_fixture

stack = stack_fixture("events")


async def test_created_and_completed_task_is_audited_and_notified_once(stack: Stack) -> None:
    await scenarios.created_and_completed_task_is_audited_and_notified_once(stack)


async def test_webhook_failing_twice_sees_one_delivery_id_three_times(stack: Stack) -> None:
    await scenarios.failing_webhook_is_retried_with_one_delivery_id(stack)


async def test_a_change_reaches_the_stream_within_a_second(stack: Stack) -> None:
    latency = await scenarios.change_reaches_the_stream_within_a_second(stack)
    print(f"SSE latency (create -> stream): {latency * 1000:.0f} ms")


async def test_a_reconnecting_stream_gets_what_it_missed(stack: Stack) -> None:
    await scenarios.reconnecting_stream_replays_what_it_missed(stack)


async def test_events_committed_while_the_sidecar_is_down_arrive_once_after_it_returns(
    stack: Stack,
) -> None:
    await scenarios.events_wait_in_the_outbox_while_the_sidecar_is_down(stack)
