"""Bulk pub/sub through the dev sidecar on its `pubsub.kafka` transport against Tansu, as daprd
1.19 serves it (pkg/api/http/http.go onBulkPublish, pkg/api/grpc/grpc.go bulkPublishEvent,
pkg/runtime/subscription/bulksubscription.go, bulkresiliency.go, postman/http/http.go
DeliverBulk; components-contrib common/component/kafka/consumer.go).

This module is also the subscriber app (`APP`): it declares bulk subscriptions at
GET /dapr/subscribe, records every bulk POST, and answers each entry as its event's data asks
(`answer`: SUCCESS, DROP, RETRY, RETRY_ONCE, MISSING_ONCE), or 500 on a `fail500` topic's first
POST of a mark. A Resiliency policy retries inbound deliveries twice, 10ms apart.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from dapr.proto.runtime.v1 import pubsub_pb2
from dapr.proto.runtime.v1.dapr_pb2_grpc import DaprStub
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from devstack.processes import DaprPair, TansuBroker, wait_until
from devstack.pubsub import write_component

pytestmark = pytest.mark.dev_sidecar("bulk pub/sub conformance runs on the dev sidecar")

PREFIX = os.environ.get("BULK_TOPIC_PREFIX") or f"b{uuid.uuid4().hex[:8]}-"
APP_TARGET = "tests.integration.sidecar.test_bulk_pubsub:app"
RETRIES = 2
BULK = {"enabled": True, "maxMessagesCount": 10, "maxAwaitDurationMs": 300}

# ---- the subscriber app (runs in its own process under uvicorn) ----

app = FastAPI()
posts: dict[str, list[dict[str, Any]]] = defaultdict(list)
single: dict[str, list[dict[str, Any]]] = defaultdict(list)
seen: dict[tuple[str, str], int] = defaultdict(int)


@app.get("/healthz")
def healthz() -> Response:
    return Response(status_code=200)


@app.get("/dapr/subscribe")
def subscribe() -> list[dict[str, Any]]:
    def bulk(topic: str, **extra: Any) -> dict[str, Any]:
        return {
            "pubsubname": "pubsub",
            "topic": PREFIX + topic,
            "route": f"/bulk/{topic}",
            "bulkSubscribe": BULK,
            **extra,
        }

    return [
        bulk("orders"),
        bulk("fail500"),
        bulk("doomed", deadLetterTopic=PREFIX + "doomed-dlq"),
        {"pubsubname": "pubsub", "topic": PREFIX + "doomed-dlq", "route": "/single/doomed-dlq"},
    ]


@app.get("/posts/{topic}")
def list_posts(topic: str) -> list[dict[str, Any]]:
    return posts[topic]


@app.get("/single/{topic}")
def list_single(topic: str) -> list[dict[str, Any]]:
    return single[topic]


@app.post("/single/{topic}")
async def on_single(topic: str, request: Request) -> dict[str, str]:
    single[topic].append(await request.json())
    return {"status": "SUCCESS"}


@app.post("/bulk/{topic}")
async def on_bulk(topic: str, request: Request) -> Response:
    envelope = await request.json()
    posts[topic].append(
        {
            "envelope": envelope,
            "content_type": request.headers.get("content-type"),
            "pubsubname_header": request.headers.get("pubsubname"),
        }
    )
    marks = {str(e["event"]["data"].get("mark")) for e in envelope["entries"]}
    if topic == "fail500":
        seen[(topic, ",".join(sorted(marks)))] += 1
        if seen[(topic, ",".join(sorted(marks)))] == 1:
            return JSONResponse({"error": "not now"}, status_code=500)
    statuses = []
    for entry in envelope["entries"]:
        data = entry["event"]["data"]
        key = (topic, entry["event"]["id"])
        seen[key] += 1
        answer = data.get("answer", "SUCCESS")
        if answer == "RETRY_ONCE":
            answer = "RETRY" if seen[key] == 1 else "SUCCESS"
        if answer == "MISSING_ONCE":
            if seen[key] == 1:
                continue
            answer = "SUCCESS"
        statuses.append({"entryId": entry["entryId"], "status": answer})
    return JSONResponse({"statuses": statuses})


# ---- the tests ----


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
    resiliency = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Resiliency",
        "metadata": {"name": "bulk"},
        "spec": {
            "policies": {
                "retries": {
                    "quick": {"policy": "constant", "duration": "10ms", "maxRetries": RETRIES}
                }
            },
            "targets": {"components": {"pubsub": {"inbound": {"retry": "quick"}}}},
        },
    }
    (resources / "resiliency.yaml").write_text(yaml.safe_dump(resiliency))
    pair = DaprPair(
        APP_TARGET, resources, workdir, runtime="dev", extra_env={"BULK_TOPIC_PREFIX": PREFIX}
    )
    try:
        yield pair.start()
    finally:
        pair.stop()


def bulk_publish(pair: DaprPair, topic: str, entries: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{pair.http_port}/v1.0-alpha1/publish/bulk/pubsub/{PREFIX}{topic}",
        json=entries,
        timeout=30,
    )


def entry(mark: str, n: int, answer: str = "SUCCESS") -> dict[str, Any]:
    return {
        "entryId": f"e{n}",
        "event": {"mark": mark, "n": n, "answer": answer},
        "contentType": "application/json",
    }


def posts_of(pair: DaprPair, topic: str, mark: str) -> list[dict[str, Any]]:
    got = httpx.get(f"http://127.0.0.1:{pair.app_port}/posts/{topic}", timeout=5).json()
    return [
        p
        for p in got
        if any(e["event"]["data"].get("mark") == mark for e in p["envelope"]["entries"])
    ]


def ns_of(post: dict[str, Any]) -> list[int]:
    return sorted(e["event"]["data"]["n"] for e in post["envelope"]["entries"])


def wait_posts(pair: DaprPair, topic: str, mark: str, count: int) -> list[dict[str, Any]]:
    wait_until(
        lambda: len(posts_of(pair, topic, mark)) >= count,
        timeout=60,
        what=f"{count} bulk POSTs of {mark} on {topic}\n{pair.sidecar.log()[-3000:]}",
    )
    return posts_of(pair, topic, mark)


def test_entries_published_together_arrive_in_one_bulk_envelope(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    response = bulk_publish(pair, "orders", [entry(mark, n) for n in range(5)])
    assert response.status_code == 204, response.text
    [post] = wait_posts(pair, "orders", mark, 1)
    envelope = post["envelope"]
    assert post["content_type"] == "application/json"
    assert post["pubsubname_header"] == "pubsub"
    assert sorted(envelope) == ["entries", "id", "metadata", "pubsubname", "topic", "type"]
    assert envelope["type"] == "com.dapr.event.sent.bulk"
    assert (envelope["pubsubname"], envelope["topic"]) == ("pubsub", PREFIX + "orders")
    assert envelope["metadata"] == {"pubsubName": "pubsub"}
    assert uuid.UUID(envelope["id"])
    assert ns_of(post) == list(range(5))
    first = envelope["entries"][0]
    assert first["entryId"] == "0"  # pubsub.kafka numbers a batch's entries
    assert first["contentType"] == "application/cloudevents+json"
    assert first["event"]["type"] == "com.dapr.event.sent"
    assert first["event"]["source"] == "tickler"
    assert first["metadata"]["__topic"] == PREFIX + "orders"
    assert {"__offset", "__partition", "__timestamp"} <= set(first["metadata"])


def test_per_entry_retry_redelivers_only_that_entry(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    entries = [entry(mark, 0), entry(mark, 1, "RETRY_ONCE"), entry(mark, 2)]
    assert bulk_publish(pair, "orders", entries).status_code == 204
    first, second = wait_posts(pair, "orders", mark, 2)
    assert ns_of(first) == [0, 1, 2]
    assert ns_of(second) == [1]


def test_an_entry_without_a_status_is_redelivered(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    entries = [entry(mark, 0, "MISSING_ONCE"), entry(mark, 1)]
    assert bulk_publish(pair, "orders", entries).status_code == 204
    first, second = wait_posts(pair, "orders", mark, 2)
    assert (ns_of(first), ns_of(second)) == ([0, 1], [0])


def test_drop_settles_the_entry(pair: DaprPair) -> None:
    mark, later = uuid.uuid4().hex, uuid.uuid4().hex
    assert bulk_publish(pair, "orders", [entry(mark, 0, "DROP")]).status_code == 204
    wait_posts(pair, "orders", mark, 1)
    assert bulk_publish(pair, "orders", [entry(later, 0)]).status_code == 204
    wait_posts(pair, "orders", later, 1)  # same partition: after any redelivery of `mark`
    assert len(posts_of(pair, "orders", mark)) == 1


def test_a_500_redelivers_every_entry(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    assert bulk_publish(pair, "fail500", [entry(mark, 0), entry(mark, 1)]).status_code == 204
    first, second = wait_posts(pair, "fail500", mark, 2)
    assert ns_of(first) == ns_of(second) == [0, 1]


def test_an_entry_still_failing_after_the_retries_is_dead_lettered(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    entries = [entry(mark, 0), entry(mark, 1, "RETRY")]
    assert bulk_publish(pair, "doomed", entries).status_code == 204

    def dead() -> list[dict[str, Any]]:
        got = httpx.get(f"http://127.0.0.1:{pair.app_port}/single/doomed-dlq", timeout=5).json()
        return [e for e in got if e["data"].get("mark") == mark]

    wait_until(lambda: bool(dead()), timeout=60, what="the dead-lettered entry")
    posts = posts_of(pair, "doomed", mark)
    assert [ns_of(p) for p in posts] == [[0, 1], *([[1]] * RETRIES)]
    [letter] = dead()
    assert letter["data"]["n"] == 1


def test_failed_entries_are_listed_and_the_rest_published(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    too_big = {
        "entryId": "big",
        "event": "x" * (2 * 1024 * 1024),  # past the producer's 1 MiB request limit
        "contentType": "text/plain",
    }
    response = bulk_publish(pair, "orders", [entry(mark, 0), too_big, entry(mark, 1)])
    assert response.status_code == 500
    body = response.json()
    assert body["errorCode"] == "ERR_PUBSUB_PUBLISH_MESSAGE"
    assert [e["entryId"] for e in body["failedEntries"]] == ["big"]
    assert json.loads(response.headers["metadata.responseData"]) == body
    posts = wait_posts(pair, "orders", mark, 1)
    assert sorted(n for p in posts for n in ns_of(p)) == [0, 1]


def test_grpc_bulk_publish_succeeds_or_fails_whole(pair: DaprPair) -> None:
    mark = uuid.uuid4().hex
    with grpc.insecure_channel(f"127.0.0.1:{pair.grpc_port}") as channel:
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
    posts = wait_posts(pair, "orders", mark, 1)
    assert sorted(n for p in posts for n in ns_of(p)) == [0, 1, 2]


def test_bulk_publish_errors_are_daprd_s(pair: DaprPair) -> None:
    unknown = httpx.post(
        f"http://127.0.0.1:{pair.http_port}/v1.0-alpha1/publish/bulk/nope/t", json=[], timeout=10
    )
    assert (unknown.status_code, unknown.json()["errorCode"]) == (404, "ERR_PUBSUB_NOT_FOUND")
    for entries in ([entry("m", 0) | {"entryId": ""}], [entry("m", 0), entry("m", 0)]):
        response = bulk_publish(pair, "orders", entries)
        assert (response.status_code, response.json()["errorCode"]) == (
            400,
            "ERR_PUBSUB_EVENTS_SER",
        )
        assert "entryId is duplicated or not present" in response.json()["message"]
    mismatch = bulk_publish(pair, "orders", [{"entryId": "a", "event": {"x": 1}}])
    assert mismatch.status_code == 400  # no contentType: daprd cannot convert the event
