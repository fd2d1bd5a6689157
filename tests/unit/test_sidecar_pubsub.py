"""Pure parts of the sidecar's pub/sub: envelopes, routing rules, retry policy, Kafka options."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sidecar.components import ComponentError
from sidecar.pubsub.cloudevents import CloudEventError, envelope, has_expired
from sidecar.pubsub.delivery import RetryPolicy
from sidecar.pubsub.kafka import client_options
from sidecar.pubsub.subscriptions import Match, SubscriptionError, parse_subscriptions

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


def test_retry_policy_doubles_up_to_its_cap_and_stops_after_max_retries() -> None:
    policy = RetryPolicy.from_metadata(
        {"backOffInitialInterval": "100ms", "backOffMaxInterval": "300ms", "backOffMaxRetries": "4"}
    )
    assert [round(d, 3) for d in policy.delays()] == [0.1, 0.2, 0.3, 0.3]


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
