"""Bulk subscribe through the dev sidecar's `pubsub.postgresql` transport. It has no bulk API of
its own, so daprd's default bulk subscriber batches its single messages
(pkg/runtime/pubsub/default_bulksub.go): each message gets a fresh uuid entry id, a batch goes
out at maxMessagesCount or after maxAwaitDurationMs, and an entry that fails fails its message,
which the component then redelivers under the inbound Resiliency policy. The Kafka module
(test_bulk_pubsub.py) covers the envelope and the statuses in full; this one covers what the
default subscriber does differently.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import DaprPair, wait_until
from devstack.pubsub import (
    BULK_APP_TARGET,
    BulkTopics,
    entry_ns,
    write_component,
    write_inbound_retry,
)
from devstack.pubsub import bulk_entry as entry

pytestmark = pytest.mark.dev_sidecar("pubsub.postgresql is the dev sidecar's own transport")

PREFIX = f"p{uuid.uuid4().hex[:8]}-"
RETRIES = 2


@pytest.fixture(scope="module")
async def topics(
    tmp_path_factory: pytest.TempPathFactory, make_database
) -> AsyncIterator[BulkTopics]:
    workdir = Path(tmp_path_factory.mktemp("bulk-postgres"))
    resources = write_component(
        workdir / "resources",
        "pubsub.postgresql",
        {"connectionString": await make_database("bulk_pubsub")},
    )
    write_inbound_retry(resources, RETRIES)
    pair = DaprPair(
        BULK_APP_TARGET, resources, workdir, runtime="dev", extra_env={"BULK_TOPIC_PREFIX": PREFIX}
    )
    try:
        yield BulkTopics(pair.start(), PREFIX)
    finally:
        pair.stop()


def entry_ids(post: dict[str, Any]) -> list[str]:
    return [e["entryId"] for e in post["envelope"]["entries"]]


def test_messages_published_together_arrive_in_one_envelope(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    response = topics.publish("orders", [entry(mark, n) for n in range(5)])
    assert response.status_code == 204, response.text
    [post] = topics.wait_posts("orders", mark, 1)
    envelope = post["envelope"]
    assert envelope["type"] == "com.dapr.event.sent.bulk"
    assert (envelope["pubsubname"], envelope["topic"]) == ("pubsub", PREFIX + "orders")
    assert entry_ns(post) == list(range(5))
    ids = entry_ids(post)
    assert len(set(ids)) == 5 and all(uuid.UUID(i) for i in ids)  # not the published ids
    first = envelope["entries"][0]
    assert first["contentType"] == "application/cloudevents+json"
    assert first["event"]["type"] == "com.dapr.event.sent"


def test_more_messages_than_a_batch_holds_go_out_in_several(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    assert topics.publish("orders", [entry(mark, n) for n in range(25)]).status_code == 204

    def delivered() -> list[int]:
        return sorted(n for p in topics.posts("orders", mark) for n in entry_ns(p))

    wait_until(lambda: delivered() == list(range(25)), timeout=60, what="all 25 messages")
    sizes = [len(p["envelope"]["entries"]) for p in topics.posts("orders", mark)]
    assert max(sizes) <= 10  # the subscription's maxMessagesCount
    assert len(sizes) >= 3


def test_a_retried_entry_is_redelivered_alone_under_its_entry_id(topics: BulkTopics) -> None:
    """The inbound policy retries the failed entries of the same batch (bulkresiliency.go),
    so the entry keeps the id it had."""
    mark = uuid.uuid4().hex
    entries = [entry(mark, 0), entry(mark, 1, "RETRY_ONCE"), entry(mark, 2)]
    assert topics.publish("orders", entries).status_code == 204
    first, second = topics.wait_posts("orders", mark, 2)
    assert entry_ns(first) == [0, 1, 2]
    assert entry_ns(second) == [1]
    [one] = [e for e in first["envelope"]["entries"] if e["event"]["data"]["n"] == 1]
    assert entry_ids(second) == [one["entryId"]]


def test_a_500_redelivers_every_entry(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    assert topics.publish("fail500", [entry(mark, 0), entry(mark, 1)]).status_code == 204

    def delivered() -> list[list[int]]:
        return [entry_ns(p) for p in topics.posts("fail500", mark)]

    # the redelivered messages may come back in one batch or in two
    wait_until(
        lambda: sorted(n for ns in delivered()[1:] for n in ns) == [0, 1],
        timeout=60,
        what="both entries redelivered",
    )
    assert delivered()[0] == [0, 1]


def test_an_entry_still_failing_after_the_retries_is_dead_lettered(topics: BulkTopics) -> None:
    mark = uuid.uuid4().hex
    assert topics.publish("doomed", [entry(mark, 0), entry(mark, 1, "RETRY")]).status_code == 204
    wait_until(
        lambda: bool(topics.dead_letters("doomed-dlq", mark)),
        timeout=60,
        what="the dead-lettered entry",
    )
    [letter] = topics.dead_letters("doomed-dlq", mark)
    assert letter["data"]["n"] == 1
    attempts = [entry_ns(p) for p in topics.posts("doomed", mark)]
    assert attempts[0] == [0, 1]
    assert attempts[1:] == [[1]] * RETRIES
