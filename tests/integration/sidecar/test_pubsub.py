"""Pub/sub through the dev sidecar on its PostgreSQL transport, driven by the official SDK.

Publishing goes through `DaprClient.publish_event` (gRPC) and daprd's HTTP publish route;
the subscriber is a FastAPI app declaring its subscriptions with dapr.ext.fastapi's DaprApp.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import grpc
import pytest
from dapr.clients.exceptions import DaprGrpcError
from dapr.proto.runtime.v1.dapr_pb2_grpc import DaprStub
from dapr.proto.runtime.v1.metadata_pb2 import GetMetadataRequest

from devstack.processes import DaprPair, wait_until
from devstack.pubsub import (
    APP_TARGET,
    dapr_client,
    deliveries_of,
    http_publish,
    received,
    wait_for_deliveries,
    write_component,
)

MAX_ATTEMPTS = 3  # backOffMaxRetries 2, below


@pytest.fixture(scope="module")
async def pair(
    tmp_path_factory: pytest.TempPathFactory, make_database, runtime: str
) -> AsyncIterator[DaprPair]:
    if runtime == "dapr":
        pytest.skip("--runtime dapr: pubsub.postgresql is the dev sidecar's own transport")
    workdir = Path(tmp_path_factory.mktemp("pubsub"))
    resources = write_component(
        workdir / "resources",
        "pubsub.postgresql",
        {
            "connectionString": await make_database("pubsub"),
            # dapr/kit retry, as Dapr's components read it: constant unless backOffPolicy
            # says exponential, so the interval is backOffDuration (default 5s)
            "backOffDuration": "10ms",
            "backOffMaxRetries": str(MAX_ATTEMPTS - 1),
        },
    )
    pair = DaprPair(APP_TARGET, resources, workdir, runtime=runtime)
    try:
        yield pair.start()
    finally:
        pair.stop()


def marker() -> str:
    return uuid.uuid4().hex


def test_published_json_arrives_in_a_daprd_cloudevent(pair: DaprPair) -> None:
    mark = marker()
    with dapr_client(pair) as client:
        client.publish_event(
            "pubsub",
            "orders",
            json.dumps({"mark": mark, "n": 1}),
            data_content_type="application/json",
        )
    [delivery] = wait_for_deliveries(pair, "orders", mark)
    event = delivery["event"]
    assert delivery["content_type"] == "application/cloudevents+json"
    assert uuid.UUID(event["id"])
    assert event["source"] == "tickler"
    assert event["type"] == "com.dapr.event.sent"
    assert event["specversion"] == "1.0"
    assert event["datacontenttype"] == "application/json"
    assert event["data"] == {"mark": mark, "n": 1}
    assert event["topic"] == "orders"
    assert event["pubsubname"] == "pubsub"
    assert event["traceparent"] == event["traceid"]
    assert event["traceparent"].startswith("00-")
    assert "tracestate" in event
    assert datetime.fromisoformat(event["time"].replace("Z", "+00:00")).tzinfo is not None
    assert "expiration" not in event


def test_text_without_content_type_is_a_string_and_octet_stream_is_base64(
    pair: DaprPair,
) -> None:
    text_mark, binary_mark = marker(), marker()
    with dapr_client(pair) as client:
        client.publish_event("pubsub", "orders", f"plain {text_mark}")
    response = http_publish(pair, "orders", binary_mark.encode(), "application/octet-stream")
    assert response.status_code == 204
    [text] = wait_for_deliveries(pair, "orders", text_mark)
    assert text["event"]["datacontenttype"] == "text/plain"
    assert text["event"]["data"] == f"plain {text_mark}"
    wait_until(
        lambda: any(
            d["event"].get("data_base64") == base64.b64encode(binary_mark.encode()).decode()
            for d in received(pair, "orders")
        ),
        what="the octet-stream event",
    )
    [binary] = [
        d
        for d in received(pair, "orders")
        if d["event"].get("data_base64") == base64.b64encode(binary_mark.encode()).decode()
    ]
    assert binary["event"]["datacontenttype"] == "application/octet-stream"
    assert "data" not in binary["event"]


def test_a_published_cloudevent_keeps_its_id_type_and_source(pair: DaprPair) -> None:
    mark = marker()
    event_id = f"evt-{mark}"
    cloudevent = {
        "specversion": "1.0",
        "id": event_id,
        "type": "tickler.task.created",
        "source": "tickler-api",
        "datacontenttype": "application/json",
        "data": {"mark": mark},
    }
    response = http_publish(
        pair, "orders", json.dumps(cloudevent).encode(), "application/cloudevents+json"
    )
    assert response.status_code == 204
    [delivery] = wait_for_deliveries(pair, "orders", mark)
    event = delivery["event"]
    assert (event["id"], event["type"], event["source"]) == (
        event_id,
        "tickler.task.created",
        "tickler-api",
    )
    assert event["topic"] == "orders"
    assert event["pubsubname"] == "pubsub"
    assert event["traceparent"]


def test_raw_payload_is_published_without_envelope_and_wrapped_for_a_raw_subscriber(
    pair: DaprPair,
) -> None:
    payload = json.dumps({"raw": marker()}).encode()
    with dapr_client(pair) as client:
        client.publish_event("pubsub", "raw", payload, publish_metadata={"rawPayload": "true"})
    encoded = base64.b64encode(payload).decode()
    wait_until(
        lambda: any(d["event"].get("data_base64") == encoded for d in received(pair, "raw")),
        what="the raw payload",
    )
    [delivery] = [d for d in received(pair, "raw") if d["event"].get("data_base64") == encoded]
    assert delivery["event"]["datacontenttype"] == "application/octet-stream"
    assert delivery["event"]["topic"] == "raw"
    assert delivery["event"]["source"] == "Dapr"  # built on the subscriber side, as daprd does


def test_a_message_past_its_ttl_is_not_delivered(pair: DaprPair) -> None:
    expired, alive = marker(), marker()
    with dapr_client(pair) as client:
        client.publish_event(
            "pubsub",
            "orders",
            json.dumps({"mark": expired}),
            data_content_type="application/json",
            publish_metadata={"ttlInSeconds": "0"},
        )
        client.publish_event(
            "pubsub",
            "orders",
            json.dumps({"mark": alive}),
            data_content_type="application/json",
            publish_metadata={"ttlInSeconds": "600"},
        )
    [delivery] = wait_for_deliveries(pair, "orders", alive)
    assert delivery["event"]["expiration"] > delivery["event"]["time"]
    assert deliveries_of(pair, "orders", expired) == []


def test_publishing_to_an_unknown_pubsub_fails_like_daprd(pair: DaprPair) -> None:
    response = http_publish(pair, "orders", b"{}", "application/json", pubsub="nope")
    assert response.status_code == 404
    assert response.json()["errorCode"] == "ERR_PUBSUB_NOT_FOUND"
    assert response.json()["message"] == "pubsub nope is not found"
    with dapr_client(pair) as client, pytest.raises(DaprGrpcError) as failure:
        client.publish_event("nope", "orders", b"{}")
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pubsub nope is not found" in failure.value.details()


def test_retry_status_redelivers_until_the_app_accepts(pair: DaprPair) -> None:
    mark = marker()
    with dapr_client(pair) as client:
        client.publish_event(
            "pubsub", "flaky", json.dumps({"mark": mark}), data_content_type="application/json"
        )
    deliveries = wait_for_deliveries(pair, "flaky", mark, count=3)
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]
    assert len({d["event"]["id"] for d in deliveries}) == 1


def test_with_a_dead_letter_topic_and_no_resiliency_the_first_failure_dead_letters(
    pair: DaprPair,
) -> None:
    """pkg/runtime/subscription/subscription.go (~l.395-405); DAPR-CONTRACT.md: "With a
    `deadLetterTopic` and no inbound retry policy, the first failure ... goes straight to the
    dead-letter topic. Component `backOff*` metadata applies only when no dead-letter topic
    is set" (this module's component sets backOffMaxRetries, which must not apply)."""
    mark = marker()
    with dapr_client(pair) as client:
        client.publish_event(
            "pubsub", "doomed", json.dumps({"mark": mark}), data_content_type="application/json"
        )
    [dead] = wait_for_deliveries(pair, "doomed-dlq", mark)
    attempts = deliveries_of(pair, "doomed", mark)
    assert [d["attempt"] for d in attempts] == [1]
    assert dead["event"]["id"] == attempts[0]["event"]["id"]
    assert dead["event"]["topic"] == "doomed"  # the original message, republished unchanged


def test_without_a_dead_letter_topic_the_components_backoff_redelivers_then_drops(
    pair: DaprPair,
) -> None:
    """pkg/runtime/subscription/subscription.go (no deadLetterTopic: the error goes back to
    the component, "for backwards compatibility (component-level retry)"), and the component
    retries per its `backOff*` metadata (components-contrib common/component/kafka/consumer.go,
    dapr/kit retry); DAPR-CONTRACT.md: "Component `backOff*` metadata applies only when no
    dead-letter topic is set"."""
    mark = marker()
    with dapr_client(pair) as client:
        client.publish_event(
            "pubsub", "failing", json.dumps({"mark": mark}), data_content_type="application/json"
        )
        wait_for_deliveries(pair, "failing", mark, count=MAX_ATTEMPTS)
        later = marker()  # delivery moved on past the dropped event
        client.publish_event(
            "pubsub", "failing", json.dumps({"mark": later}), data_content_type="application/json"
        )
    wait_for_deliveries(pair, "failing", later, count=MAX_ATTEMPTS)
    attempts = deliveries_of(pair, "failing", mark)
    assert [d["attempt"] for d in attempts] == list(range(1, MAX_ATTEMPTS + 1))


def test_drop_status_settles_the_event_without_retry(pair: DaprPair) -> None:
    mark = marker()
    with dapr_client(pair) as client:
        client.publish_event(
            "pubsub", "dropped", json.dumps({"mark": mark}), data_content_type="application/json"
        )
        wait_for_deliveries(pair, "dropped", mark)
        # A retry would come within the 10 ms backoff; a later event on the same
        # pubsub proves delivery moved on.
        later = marker()
        client.publish_event(
            "pubsub", "flaky", json.dumps({"mark": later}), data_content_type="application/json"
        )
    wait_for_deliveries(pair, "flaky", later, count=3)
    assert len(deliveries_of(pair, "dropped", mark)) == 1


def test_an_empty_2xx_answer_counts_as_success(pair: DaprPair) -> None:
    mark = marker()
    with dapr_client(pair) as client:
        client.publish_event(
            "pubsub", "empty", json.dumps({"mark": mark}), data_content_type="application/json"
        )
        wait_for_deliveries(pair, "empty", mark)
        later = marker()
        client.publish_event(
            "pubsub", "flaky", json.dumps({"mark": later}), data_content_type="application/json"
        )
    wait_for_deliveries(pair, "flaky", later, count=3)
    assert len(deliveries_of(pair, "empty", mark)) == 1


def test_events_with_one_partition_key_arrive_in_publish_order(pair: DaprPair) -> None:
    mark = marker()
    with dapr_client(pair) as client:
        for n in range(30):
            client.publish_event(
                "pubsub",
                "orders",
                json.dumps({"mark": mark, "n": n}),
                data_content_type="application/json",
                publish_metadata={"partitionKey": mark},
            )
    deliveries = wait_for_deliveries(pair, "orders", mark, count=30)
    assert [d["event"]["data"]["n"] for d in deliveries] == list(range(30))


def test_metadata_lists_the_component_and_the_app_subscriptions(pair: DaprPair) -> None:
    with dapr_client(pair) as client:
        metadata = client.get_metadata()
    assert ("pubsub", "pubsub.postgresql") in {
        (c.name, c.type) for c in metadata.registered_components
    }
    # the SDK does not surface subscriptions: read them with the generated stub
    with grpc.insecure_channel(f"127.0.0.1:{pair.grpc_port}") as channel:
        response = DaprStub(channel).GetMetadata(GetMetadataRequest())
    topics = {s.topic: s for s in response.subscriptions}
    assert {"orders", "raw", "flaky", "doomed", "doomed-dlq", "dropped"} <= set(topics)
    assert topics["doomed"].dead_letter_topic == "doomed-dlq"
    assert topics["orders"].rules.rules[0].path == "/events/orders"


def test_events_published_while_the_app_is_down_are_delivered_when_it_returns(
    pair: DaprPair,
) -> None:
    mark = marker()
    pair.app.kill()
    try:
        with dapr_client(pair) as client:
            for n in range(5):
                client.publish_event(
                    "pubsub",
                    "orders",
                    json.dumps({"mark": mark, "n": n}),
                    data_content_type="application/json",
                )
    finally:
        pair.start_app()
    deliveries = wait_for_deliveries(pair, "orders", mark, count=5)
    assert sorted(d["event"]["data"]["n"] for d in deliveries) == list(range(5))


def test_a_sidecar_killed_with_undelivered_events_delivers_them_after_restart(
    pair: DaprPair,
) -> None:
    mark = marker()
    pair.app.kill()
    with dapr_client(pair) as client:
        for n in range(20):
            client.publish_event(
                "pubsub",
                "orders",
                json.dumps({"mark": mark, "n": n}),
                data_content_type="application/json",
            )
    pair.sidecar.kill()
    pair.start_sidecar()
    pair.start_app()
    pair.wait_sidecar_ready()
    deliveries = wait_for_deliveries(pair, "orders", mark, count=20)
    assert {d["event"]["data"]["n"] for d in deliveries} == set(range(20))


def test_a_sidecar_killed_mid_delivery_loses_nothing(pair: DaprPair) -> None:
    mark = marker()
    with dapr_client(pair) as client:
        for n in range(200):
            client.publish_event(
                "pubsub",
                "orders",
                json.dumps({"mark": mark, "n": n}),
                data_content_type="application/json",
            )
    pair.sidecar.kill()
    pair.start_sidecar()
    pair.wait_sidecar_ready()
    wait_until(
        lambda: (
            {d["event"]["data"]["n"] for d in deliveries_of(pair, "orders", mark)}
            == set(range(200))
        ),
        what="all 200 events after the restart",
    )
