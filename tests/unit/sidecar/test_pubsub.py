"""Pure parts of the sidecar's pub/sub: envelopes, routing rules, retry policy, Kafka options."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from sidecar.components import Component, ComponentError
from sidecar.pubsub.cloudevents import CloudEventError, envelope, has_expired
from sidecar.pubsub.kafka import client_options
from sidecar.pubsub.postgres import PostgresTransport, _TopicConsumer
from sidecar.pubsub.subscriptions import Match, SubscriptionError, parse_subscriptions
from sidecar.resiliency import InboundPolicy, Resiliency, Retry, load_resiliency

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def wrap(data: bytes, content_type: str, **metadata: str) -> dict:
    return envelope(
        data=data,
        content_type=content_type,
        source="tickler",
        topic="t",
        pubsub="ps",
        traceparent="00-abc-def-00",
        metadata=metadata,
        now=NOW,
    )


def test_json_that_does_not_parse_is_kept_as_a_string() -> None:
    assert wrap(b"{not json", "application/json")["data"] == "{not json"


def test_json_suffix_content_types_are_json() -> None:
    assert wrap(b'{"a": 1}', "application/problem+json; charset=utf-8")["data"] == {"a": 1}


def test_ttl_sets_an_rfc3339_expiration_and_it_expires() -> None:
    event = wrap(b"x", "text/plain", ttlInSeconds="30")
    assert event["time"] == "2030-01-02T03:04:05Z"
    assert event["expiration"] == "2030-01-02T03:04:35Z"
    assert not has_expired(event, NOW + timedelta(seconds=29))
    assert has_expired(event, NOW + timedelta(seconds=31))


def test_an_invalid_ttl_is_ignored_like_daprd() -> None:
    assert "expiration" not in wrap(b"x", "text/plain", ttlInSeconds="soon")


def test_cloudevent_metadata_overrides_the_envelope() -> None:
    event = wrap(b"x", "text/plain", **{"cloudevent.id": "e1", "cloudevent.type": "my.type"})
    assert (event["id"], event["type"]) == ("e1", "my.type")


def test_a_published_cloudevent_gets_topic_and_tracing_but_keeps_its_time() -> None:
    published = {"id": "e1", "type": "x", "source": "s", "time": "2020-01-01T00:00:00Z"}
    event = wrap(json.dumps(published).encode(), "application/cloudevents+json")
    assert event["time"] == "2020-01-01T00:00:00Z"
    assert (event["topic"], event["pubsubname"]) == ("t", "ps")
    assert event["traceparent"] == "00-abc-def-00"
    assert event["specversion"] == "1.0"


def test_a_published_cloudevent_keeps_its_own_id_and_trace_fields() -> None:
    """components-contrib pubsub/envelope.go (FromCloudEvent); DAPR-CONTRACT.md, "A payload
    that is already a CloudEvent keeps its `id` and trace fields"."""
    published = {
        "id": "e1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "traceid": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "k=v",
    }
    event = wrap(json.dumps(published).encode(), "application/cloudevents+json")
    assert {k: event[k] for k in published} == published


def test_a_published_cloudevent_without_an_id_gets_none() -> None:
    event = wrap(b'{"type": "x"}', "application/cloudevents+json")
    assert "id" not in event


def test_a_cloudevent_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(CloudEventError):
        wrap(b"[1, 2]", "application/cloudevents+json")


def test_routing_rules_pick_the_first_match_and_fall_back_to_the_default() -> None:
    [subscription] = parse_subscriptions(
        [
            {
                "pubsubname": "ps",
                "topic": "t",
                "routes": {
                    "rules": [
                        {
                            "match": 'event.type == "task.created" && event.data.priority == 1',
                            "path": "/urgent",
                        },
                        {
                            "match": "event.type == 'task.created' || event.type == 'task.updated'",
                            "path": "/tasks",
                        },
                    ],
                    "default": "/other",
                },
            }
        ]
    )
    assert subscription.route_for({"type": "task.created", "data": {"priority": 1}}) == "/urgent"
    assert subscription.route_for({"type": "task.created", "data": {"priority": 2}}) == "/tasks"
    assert subscription.route_for({"type": "task.updated"}) == "/tasks"
    assert subscription.route_for({"type": "other"}) == "/other"


def test_without_a_default_an_unmatched_event_has_no_route() -> None:
    [subscription] = parse_subscriptions(
        [
            {
                "pubsubname": "ps",
                "topic": "t",
                "routes": {"rules": [{"match": 'event.type != "x"', "path": "/not-x"}]},
            }
        ]
    )
    assert subscription.route_for({"type": "x"}) is None


def test_unsupported_expressions_and_duplicates_are_skipped() -> None:
    subscriptions = parse_subscriptions(
        [
            {
                "pubsubname": "ps",
                "topic": "a",
                "routes": {"rules": [{"match": "event.type.startsWith('x')", "path": "/x"}]},
            },
            {"pubsubname": "ps", "topic": "b", "route": "/b1"},
            {"pubsubname": "ps", "topic": "b", "route": "/b2"},
            {"topic": "c", "route": "/c"},
        ]
    )
    assert [(s.topic, s.rules[0].path) for s in subscriptions] == [("b", "/b1")]
    with pytest.raises(SubscriptionError):
        Match.parse("event.type matches 'x'")


def test_component_backoff_metadata_is_read_as_dapr_kit_retry() -> None:
    """dapr/kit retry DecodeConfigWithPrefix(..., "backOff"), as components-contrib's Kafka
    reads it: constant every 5 s for ever unless the metadata says otherwise."""
    assert Retry.from_component_metadata({}) == Retry()
    assert list(
        Retry.from_component_metadata(
            {"backOffDuration": "10ms", "backOffMaxRetries": "2"}
        ).delays()
    ) == [0.01, 0.01]
    exponential = Retry.from_component_metadata(
        {
            "backOffPolicy": "exponential",
            "backOffInitialInterval": "100ms",
            "backOffMaxRetries": "3",
        }
    )
    assert (exponential.policy, exponential.initial_interval) == ("exponential", 0.1)
    with pytest.raises(ValueError):
        Retry.from_component_metadata({"backOffPolicy": "linear"})


def test_kafka_password_auth_maps_to_sasl_over_tls_unless_disabled() -> None:
    options = client_options(
        {
            "brokers": "a:9092, b:9092",
            "authType": "password",
            "saslUsername": "u",
            "saslPassword": "p",
            "saslMechanism": "SHA-512",
            "disableTls": "true",
        },
        "tickler",
    )
    assert options["bootstrap_servers"] == ["a:9092", "b:9092"]
    assert options["client_id"] == "tickler"
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    tls = client_options({"brokers": "a:9092", "authType": "password"}, "tickler")
    assert tls["security_protocol"] == "SASL_SSL" and tls["ssl_context"] is not None


def test_kafka_refuses_unknown_auth_and_mtls_without_a_key_pair() -> None:
    with pytest.raises(ComponentError):
        client_options({"brokers": "a:9092", "authType": "oidc"}, "tickler")
    with pytest.raises(ComponentError):
        client_options({"brokers": "a:9092", "authType": "mtls"}, "tickler")
    with pytest.raises(ComponentError):
        client_options({}, "tickler")


def test_the_local_resiliency_file_gives_the_pubsub_its_inbound_policy() -> None:
    """sidecar/resiliency.py reads components/local/resiliency.yaml as daprd does."""
    inbound = load_resiliency(Path("components/local"), "tickler").inbound("pubsub")
    assert inbound.timeout == 30.0
    assert inbound.retry == Retry(policy="exponential", max_interval=30.0, max_retries=8)
    assert load_resiliency(Path("components/local"), "other-app").inbound("pubsub") == (
        InboundPolicy()
    )


def test_exponential_retries_start_at_half_a_second_and_grow_by_half_with_jitter() -> None:
    """dapr/kit retry (cenkalti/backoff): 0.5 s x1.5 up to maxInterval, each +/-50 %."""
    waits = list(Retry(policy="exponential", max_interval=1.0, max_retries=4).delays())
    assert len(waits) == 4
    for wait, interval in zip(waits, [0.5, 0.75, 1.0, 1.0], strict=True):
        assert interval * 0.5 <= wait <= interval * 1.5
    assert list(Retry(duration=0.2, max_retries=2).delays()) == [0.2, 0.2]


def test_a_published_cloudevent_without_traceid_gets_the_requests_trace() -> None:
    """components-contrib pubsub/envelope.go, FromCloudEvent: `traceparent` alone does not
    survive; without `traceid` both fields become the publish request's."""
    published = {"id": "e1", "traceparent": "00-1111-2222-01"}
    event = wrap(json.dumps(published).encode(), "application/cloudevents+json")
    assert (event["id"], event["traceid"], event["traceparent"]) == (
        "e1",
        "00-abc-def-00",
        "00-abc-def-00",
    )


def test_a_named_component_target_gets_only_its_own_inbound_policies() -> None:
    """pkg/resiliency/resiliency.go, ComponentInboundPolicy: default policies apply only to
    a component that is not a target; a target without an inbound retry makes one attempt."""
    resiliency = Resiliency(
        retries={"DefaultRetryPolicy": Retry(max_retries=3), "tight": Retry(max_retries=1)},
        timeouts={"DefaultComponentInboundTimeoutPolicy": 2.0, "never": 0.0},
        components={"pubsub": {"inbound": {"timeout": "never"}}, "other": {"outbound": {}}},
    )
    assert resiliency.inbound("pubsub") == InboundPolicy(retry=None, timeout=None)
    assert resiliency.inbound("other") == InboundPolicy()
    assert resiliency.inbound("untargeted") == InboundPolicy(
        retry=Retry(max_retries=3), timeout=2.0
    )
    resiliency.retries["DefaultPubsubComponentInboundRetryPolicy"] = Retry(max_retries=1)
    assert resiliency.inbound("untargeted").retry == Retry(max_retries=1)


def test_exponential_retries_stop_after_fifteen_minutes_of_elapsed_time() -> None:
    """cenkalti/backoff v4 DefaultMaxElapsedTime, which dapr/kit keeps: an exponential
    policy with maxRetries -1 still gives up; a wait that would end past it is not taken."""
    now = [0.0]
    retry = Retry(policy="exponential", initial_interval=400.0, max_interval=400.0, randomization=0)
    waits = []
    for wait in retry.delays(clock=lambda: now[0]):
        waits.append(wait)
        now[0] += wait + 1.0  # the wait, then a failing attempt of 1 s
    assert waits == [400.0, 400.0]


class _FlakyPool:
    """Stands in for asyncpg's pool: no real server raises InternalClientError on demand,
    and that is the error the fault drill logged."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.saved: list[object] = []
        self.caught_up = asyncio.Event()

    async def execute(self, query: str, *args: object) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.saved.append(args[-1])  # the cursor position
        self.caught_up.set()
        return "INSERT 0 1"


async def test_the_cursor_save_loop_outlives_any_error() -> None:
    """Issue 9, "A stuck cursor": `_TopicConsumer`'s save loop ended for good on asyncpg's
    InternalClientError, which its exception list did not name, while delivery went on."""
    pool = _FlakyPool(
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        RuntimeError("whatever comes next"),
    )
    component = Component("pubsub", "pubsub.postgresql", metadata={"pollInterval": "10ms"})
    consumer = _TopicConsumer(PostgresTransport(component, pool, "tickler"), "orders", _ignore)
    saver = asyncio.create_task(consumer._save_loop())
    try:
        consumer._order.append(42)
        consumer._settle(42)
        await asyncio.wait_for(pool.caught_up.wait(), timeout=5)
        assert pool.saved == [42] and not saver.done()
    finally:
        saver.cancel()


async def _ignore(topic: str, body: bytes, expired: bool) -> None:
    return None
