"""Bulk pub/sub through the dev sidecar on its `pubsub.kafka` transport against Tansu, as daprd
1.19 serves it (pkg/api/http/http.go onBulkPublish, pkg/api/grpc/grpc.go bulkPublishEvent,
pkg/runtime/subscription/bulksubscription.go, bulkresiliency.go, postman/http/http.go
DeliverBulk; components-contrib common/component/kafka/consumer.go).

The subscriber app is devstack/apps/bulk_pubsub_app.py. A Resiliency policy retries inbound
deliveries twice, 10ms apart.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from dapr.proto.runtime.v1 import pubsub_pb2
from dapr.proto.runtime.v1.dapr_pb2_grpc import DaprStub

from devstack.processes import DaprPair, TansuBroker, wait_until
from devstack.pubsub import (
    BULK_APP_TARGET,
    BulkTopics,
    entry_ns,
    write_component,
    write_inbound_retry,
)
from devstack.pubsub import bulk_entry as entry

pytestmark = pytest.mark.dev_sidecar("bulk pub/sub conformance runs on the dev sidecar")

PREFIX = f"b{uuid.uuid4().hex[:8]}-"
RETRIES = 2


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tansu = TansuBroker(Path(tmp_path_factory.mktemp("tansu")) / "tansu.log").start()
    try:
        yield tansu.address
    finally:
        tansu.kill()


@pytest.fixture(scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory, broker: str) -> AsyncIterator[DaprPair]:
    workdir = Path(tmp_path_factory.mktemp("bulk-kafka"))
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
            "backOffDuration": "10ms",
            "backOffMaxRetries": "2",
        },
    )
    write_inbound_retry(resources, RETRIES)
    pair = DaprPair(
        BULK_APP_TARGET, resources, workdir, runtime="dev", extra_env={"BULK_TOPIC_PREFIX": PREFIX}
    )
    try:
        yield pair.start()
    finally:
        pair.stop()


@pytest.fixture(scope="module")
def topics(pair: DaprPair) -> BulkTopics:
    return BulkTopics(pair, PREFIX)


def test_entries_published_together_arrive_in_one_bulk_envelope(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    response = topics.publish("orders", [entry(mark, n) for n in range(5)])
    assert response.status_code == 204, response.text
    [post] = topics.wait_posts("orders", mark, 1)
    envelope = post["envelope"]
    assert post["content_type"] == "application/json"
    assert post["pubsubname_header"] == "pubsub"
    assert sorted(envelope) == ["entries", "id", "metadata", "pubsubname", "topic", "type"]
    assert envelope["type"] == "com.dapr.event.sent.bulk"
    assert (envelope["pubsubname"], envelope["topic"]) == ("pubsub", PREFIX + "orders")
    assert envelope["metadata"] == {"pubsubName": "pubsub"}
    assert uuid.UUID(envelope["id"])
    assert entry_ns(post) == list(range(5))
    first = envelope["entries"][0]
    assert first["entryId"] == "0"  # pubsub.kafka numbers a batch's entries
    assert first["contentType"] == "application/cloudevents+json"
    assert first["event"]["type"] == "com.dapr.event.sent"
    assert first["event"]["source"] == "tickler"
    assert first["metadata"]["__topic"] == PREFIX + "orders"
    assert {"__offset", "__partition", "__timestamp"} <= set(first["metadata"])


async def test_the_log_end_counts_every_record_of_a_bulk_publish(
    topics: BulkTopics, broker: str
) -> None:
    """Tansu 0.6 answers a multi-record produce batch with a high watermark one past the
    batch's first record, so the sidecar's producer sends one record per batch
    (sidecar/pubsub/kafka.py). Five records published together must leave the log end at 5,
    or consumer lag and committed offsets disagree with the log (the saga bench's drain
    check never finished)."""
    mark = uuid.uuid4().hex
    topic = f"{PREFIX}end-{mark[:8]}"
    entries = [entry(mark, n) for n in range(5)]
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"http://127.0.0.1:{topics.pair.http_port}/v1.0-alpha1/publish/bulk/pubsub/{topic}",
            json=entries,
        )
    assert response.status_code == 204, response.text
    consumer = AIOKafkaConsumer(bootstrap_servers=broker)
    await consumer.start()
    try:
        assert topic in await consumer.topics()  # fetches the cluster's metadata
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        assert partitions, "the topic was not created"
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    assert sum(ends.values()) == 5


def test_per_entry_retry_redelivers_only_that_entry(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    entries = [entry(mark, 0), entry(mark, 1, "RETRY_ONCE"), entry(mark, 2)]
    assert topics.publish("orders", entries).status_code == 204
    first, second = topics.wait_posts("orders", mark, 2)
    assert entry_ns(first) == [0, 1, 2]
    assert entry_ns(second) == [1]


def test_an_entry_without_a_status_is_redelivered(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    entries = [entry(mark, 0, "MISSING_ONCE"), entry(mark, 1)]
    assert topics.publish("orders", entries).status_code == 204
    first, second = topics.wait_posts("orders", mark, 2)
    assert (entry_ns(first), entry_ns(second)) == ([0, 1], [0])


def test_drop_settles_the_entry(topics: BulkTopics) -> None:
    mark, later = uuid.uuid4().hex, uuid.uuid4().hex
    assert topics.publish("orders", [entry(mark, 0, "DROP")]).status_code == 204
    topics.wait_posts("orders", mark, 1)
    assert topics.publish("orders", [entry(later, 0)]).status_code == 204
    topics.wait_posts("orders", later, 1)  # same partition: after any redelivery of `mark`
    assert len(topics.posts("orders", mark)) == 1


def test_a_500_redelivers_every_entry(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    assert topics.publish("fail500", [entry(mark, 0), entry(mark, 1)]).status_code == 204
    first, second = topics.wait_posts("fail500", mark, 2)
    assert entry_ns(first) == entry_ns(second) == [0, 1]


def test_an_entry_still_failing_after_the_retries_is_dead_lettered(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    entries = [entry(mark, 0), entry(mark, 1, "RETRY")]
    assert topics.publish("doomed", entries).status_code == 204

    def dead() -> list[dict[str, Any]]:
        return topics.dead_letters("doomed-dlq", mark)

    wait_until(lambda: bool(dead()), timeout=60, what="the dead-lettered entry")
    posts = topics.posts("doomed", mark)
    assert [entry_ns(p) for p in posts] == [[0, 1], *([[1]] * RETRIES)]
    [letter] = dead()
    assert letter["data"]["n"] == 1


def test_failed_entries_are_listed_and_the_rest_published(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    too_big = {
        "entryId": "big",
        "event": "x" * (2 * 1024 * 1024),  # past the producer's 1 MiB request limit
        "contentType": "text/plain",
    }
    response = topics.publish("orders", [entry(mark, 0), too_big, entry(mark, 1)])
    assert response.status_code == 500
    body = response.json()
    assert body["errorCode"] == "ERR_PUBSUB_PUBLISH_MESSAGE"
    assert [e["entryId"] for e in body["failedEntries"]] == ["big"]
    assert json.loads(response.headers["metadata.responseData"]) == body
    posts = topics.wait_posts("orders", mark, 1)
    assert sorted(n for p in posts for n in entry_ns(p)) == [0, 1]


def test_grpc_bulk_publish_succeeds_or_fails_whole(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    with grpc.insecure_channel(f"127.0.0.1:{topics.pair.grpc_port}") as channel:
        stub = DaprStub(channel)
        ok = stub.BulkPublishEventAlpha1(
            pubsub_pb2.BulkPublishRequest(
                pubsub_name="pubsub",
                topic=PREFIX + "orders",
                entries=[
                    pubsub_pb2.BulkPublishRequestEntry(
                        entry_id=str(n),
                        event=json.dumps({"mark": mark, "n": n}).encode(),
                        content_type="application/json",
                    )
                    for n in range(3)
                ],
            )
        )
        assert list(ok.failedEntries) == []
        with pytest.raises(grpc.RpcError) as failed:
            stub.BulkPublishEvent(
                pubsub_pb2.BulkPublishRequest(
                    pubsub_name="pubsub",
                    topic=PREFIX + "orders",
                    entries=[
                        pubsub_pb2.BulkPublishRequestEntry(
                            entry_id="big",
                            event=b"x" * (2 * 1024 * 1024),
                            content_type="text/plain",
                        )
                    ],
                )
            )
        assert failed.value.code() == grpc.StatusCode.INTERNAL
        with pytest.raises(grpc.RpcError) as duplicate:
            stub.BulkPublishEvent(
                pubsub_pb2.BulkPublishRequest(
                    pubsub_name="pubsub",
                    topic=PREFIX + "orders",
                    entries=[pubsub_pb2.BulkPublishRequestEntry(entry_id="a", event=b"1")] * 2,
                )
            )
        assert duplicate.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    posts = topics.wait_posts("orders", mark, 1)
    assert sorted(n for p in posts for n in entry_ns(p)) == [0, 1, 2]


def test_bulk_publish_errors_are_daprd_s(topics: BulkTopics) -> None:
    unknown = httpx.post(
        f"http://127.0.0.1:{topics.pair.http_port}/v1.0-alpha1/publish/bulk/nope/t",
        json=[],
        timeout=10,
    )
    assert (unknown.status_code, unknown.json()["errorCode"]) == (404, "ERR_PUBSUB_NOT_FOUND")
    for entries in ([entry("m", 0) | {"entryId": ""}], [entry("m", 0), entry("m", 0)]):
        response = topics.publish("orders", entries)
        assert (response.status_code, response.json()["errorCode"]) == (
            400,
            "ERR_PUBSUB_EVENTS_SER",
        )
        assert "entryId is duplicated or not present" in response.json()["message"]
    mismatch = topics.publish("orders", [{"entryId": "a", "event": {"x": 1}}])
    assert mismatch.status_code == 400  # no contentType: daprd cannot convert the event
