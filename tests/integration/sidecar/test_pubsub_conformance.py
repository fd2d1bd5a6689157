"""Pub/sub delivery under a Resiliency policy, and CloudEvent passthrough, as daprd 1.19 does.

The resources folder holds this module's own tight `kind: Resiliency` (constant 10ms, 2
retries, a 500ms timeout), so dead-letter cases finish in seconds, never minutes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from devstack.processes import DaprPair
from devstack.pubsub import (
    APP_TARGET,
    dapr_client,
    deliveries_of,
    wait_for_deliveries,
    write_component,
)

pytestmark = pytest.mark.dev_sidecar("delivers through pubsub.postgresql, the dev sidecar's own")

RETRIES = 2
RESILIENCY = {
    "apiVersion": "dapr.io/v1alpha1",
    "kind": "Resiliency",
    "metadata": {"name": "tight"},
    "spec": {
        "policies": {
            "timeouts": {"tight": "500ms"},
            "retries": {"tight": {"policy": "constant", "duration": "10ms", "maxRetries": RETRIES}},
        },
        "targets": {"components": {"pubsub": {"inbound": {"retry": "tight", "timeout": "tight"}}}},
    },
}


@pytest.fixture(scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory, make_database) -> AsyncIterator[DaprPair]:
    workdir = Path(tmp_path_factory.mktemp("pubsub_conformance"))
    resources = write_component(
        workdir / "resources",
        "pubsub.postgresql",
        # must not apply: every subscription below has a dead-letter topic
        {"connectionString": await make_database("pubsub_conformance"), "backOffMaxRetries": "9"},
    )
    (resources / "resiliency.yaml").write_text(yaml.safe_dump(RESILIENCY))
    pair = DaprPair(APP_TARGET, resources, workdir, runtime="sidecar")
    try:
        yield pair.start()
    finally:
        pair.stop()


def publish(pair: DaprPair, topic: str, data: str, content_type: str = "application/json") -> None:
    with dapr_client(pair) as client:
        client.publish_event("pubsub", topic, data, data_content_type=content_type)


def test_the_inbound_retry_policy_runs_before_the_event_is_dead_lettered(pair: DaprPair) -> None:
    """pkg/runtime/subscription/subscription.go (~l.395-405: the policy runner, then the
    dead-letter topic); DAPR-CONTRACT.md: "With a policy, the policy's retries apply" and
    "Component `backOff*` metadata applies only when no dead-letter topic is set"."""
    mark = uuid.uuid4().hex
    publish(pair, "doomed", json.dumps({"mark": mark}))
    [dead] = wait_for_deliveries(pair, "doomed-dlq", mark)
    attempts = deliveries_of(pair, "doomed", mark)
    assert [d["attempt"] for d in attempts] == list(range(1, RETRIES + 2))
    assert dead["event"]["id"] == attempts[0]["event"]["id"]


def test_a_404_from_the_app_is_dead_lettered_without_a_retry(pair: DaprPair) -> None:
    """pkg/runtime/subscription/postman/http/http.go (404 is non-retriable); DAPR-CONTRACT.md:
    "A 404 from the app is dead-lettered, not dropped"."""
    mark = uuid.uuid4().hex
    publish(pair, "missing", json.dumps({"mark": mark}))
    [dead] = wait_for_deliveries(pair, "missing-dlq", mark)
    assert [d["attempt"] for d in deliveries_of(pair, "missing", mark)] == [1]
    assert dead["event"]["topic"] == "missing"


def test_an_attempt_past_the_policy_timeout_fails_and_is_dead_lettered(pair: DaprPair) -> None:
    """pkg/runtime/subscription/subscription.go (each attempt runs under the inbound timeout);
    DAPR-CONTRACT.md: "the first failure (RETRY, non-2xx, timeout)" counts as a failure."""
    mark = uuid.uuid4().hex
    publish(pair, "slow", json.dumps({"mark": mark}))
    wait_for_deliveries(pair, "slow-dlq", mark)
    assert [d["attempt"] for d in deliveries_of(pair, "slow", mark)] == list(range(1, RETRIES + 2))


def published_cloudevent(pair: DaprPair, mark: str, **trace: str) -> dict:
    cloudevent = {
        "specversion": "1.0",
        "id": f"evt-{mark}",
        "source": "tickler-api",
        "type": "tickler.task.created",
        "datacontenttype": "application/json",
        "data": {"mark": mark},
        **trace,
    }
    publish(pair, "orders", json.dumps(cloudevent), "application/cloudevents+json")
    [delivery] = wait_for_deliveries(pair, "orders", mark)
    return delivery


def test_a_published_cloudevent_keeps_its_id_and_trace_fields(pair: DaprPair) -> None:
    """components-contrib pubsub/envelope.go (~l.129-169, FromCloudEvent) as called from
    daprd's pkg/runtime/pubsub/cloudevents.go (NewCloudEvent; DAPR-CONTRACT.md names it
    envelope.go); DAPR-CONTRACT.md: "A payload that is already a CloudEvent keeps its `id`
    and trace fields. daprd sets no default `id` then"."""
    mark = uuid.uuid4().hex
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    delivery = published_cloudevent(
        pair, mark, traceid=traceparent, traceparent=traceparent, tracestate="k=v"
    )
    assert delivery["event"]["id"] == f"evt-{mark}"
    assert delivery["event"]["traceid"] == traceparent
    assert delivery["event"]["traceparent"] == traceparent
    assert delivery["event"]["tracestate"] == "k=v"
    assert delivery["traceparent"] == traceparent


def test_a_published_cloudevent_without_traceid_takes_the_publish_calls_trace(
    pair: DaprPair,
) -> None:
    """components-contrib pubsub/envelope.go (FromCloudEvent): only a `traceid` in the event
    keeps its trace fields; without one, `traceid` and `traceparent` are both set from the
    publish call, over the event's own `traceparent`. The id stays (DAPR-CONTRACT.md, as
    above)."""
    mark = uuid.uuid4().hex
    own = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    delivery = published_cloudevent(pair, mark, traceparent=own)
    event = delivery["event"]
    assert event["id"] == f"evt-{mark}"
    assert event["traceparent"] == event["traceid"] != own
