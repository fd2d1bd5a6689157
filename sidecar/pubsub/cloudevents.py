"""CloudEvents 1.0 envelopes, built and read the way daprd does (components-contrib `pubsub`).

The publisher side wraps the payload (`NewCloudEventsEnvelope`, or `FromCloudEvent` when the
payload already is a CloudEvent); the subscriber side reads it back, or wraps a raw payload for
a `rawPayload` subscription (`FromRawPayload`), and drops it once `expiration` has passed.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_TYPE = "com.dapr.event.sent"
DEFAULT_SOURCE = "Dapr"
DEFAULT_DATA_CONTENT_TYPE = "text/plain"
SPEC_VERSION = "1.0"
CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json"

_TRUTHY = {"true", "1", "y", "yes", "on"}


class CloudEventError(ValueError):
    """The payload claims to be a CloudEvent but is not a JSON object."""


def _base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    base = _base_type(content_type)
    return base == "application/json" or base.endswith("+json")


def is_binary(content_type: str) -> bool:
    return _base_type(content_type) == "application/octet-stream"


def is_cloudevent(content_type: str) -> bool:
    return _base_type(content_type) == CLOUDEVENT_CONTENT_TYPE


def is_truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUTHY


def ttl_of(metadata: dict[str, str]) -> timedelta | None:
    """`ttlInSeconds`; daprd ignores a value that is not a non-negative integer."""
    raw = metadata.get("ttlInSeconds")
    if raw is None:
        return None
    try:
        seconds = int(raw)
    except ValueError:
        return None
    return timedelta(seconds=seconds) if seconds >= 0 else None


def new_traceparent() -> str:
    """What daprd puts in the envelope without tracing configured: fresh ids, not sampled."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    *,
    data: bytes,
    content_type: str,
    source: str,
    topic: str,
    pubsub: str,
    traceparent: str,
    tracestate: str = "",
    metadata: dict[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The CloudEvent daprd publishes for `data` (its `NewCloudEvent` + `ApplyMetadata`)."""
    metadata = metadata or {}
    now = now or datetime.now(UTC)
    if is_cloudevent(content_type):
        event = _from_cloudevent(data, topic, pubsub, traceparent, tracestate)
    else:
        event = _new_envelope(
            # `cloudevent.*` metadata overrides envelope fields, as daprd's WeakDecode does
            event_id=metadata.get("cloudevent.id", ""),
            source=metadata.get("cloudevent.source", source),
            event_type=metadata.get("cloudevent.type", ""),
            topic=topic,
            pubsub=pubsub,
            content_type=metadata.get("cloudevent.datacontenttype", content_type),
            data=data,
            traceparent=metadata.get("cloudevent.traceparent", traceparent),
            tracestate=metadata.get("cloudevent.tracestate", tracestate),
        )
    event.setdefault("time", _rfc3339(now))
    if (ttl := ttl_of(metadata)) is not None:
        event["expiration"] = _rfc3339(now + ttl)
    return event


def _new_envelope(
    *,
    event_id: str,
    source: str,
    event_type: str,
    topic: str,
    pubsub: str,
    content_type: str,
    data: bytes,
    traceparent: str,
    tracestate: str,
) -> dict[str, Any]:
    content_type = content_type or DEFAULT_DATA_CONTENT_TYPE
    data_field, value = "data", None
    if is_json(content_type):
        try:
            value = json.loads(data)
        except ValueError:
            value = data.decode("utf-8", errors="replace")
    elif is_binary(content_type):
        data_field, value = "data_base64", base64.b64encode(data).decode("ascii")
    else:
        value = data.decode("utf-8", errors="replace")
    return {
        "id": event_id or str(uuid.uuid4()),
        "specversion": SPEC_VERSION,
        "datacontenttype": content_type,
        "source": source or DEFAULT_SOURCE,
        "type": event_type or DEFAULT_TYPE,
        "topic": topic,
        "pubsubname": pubsub,
        "traceid": traceparent,
        "traceparent": traceparent,
        "tracestate": tracestate,
        data_field: value,
    }


def _from_cloudevent(
    data: bytes, topic: str, pubsub: str, traceparent: str, tracestate: str
) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise CloudEventError(f"payload is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise CloudEventError("payload is not a JSON object")
    # As FromCloudEvent: the publisher's id stays, and none is made up when it has none. Its
    # trace fields stay only if it carries `traceid`; without it, both `traceid` and
    # `traceparent` become the publish request's, even over a `traceparent` of its own.
    if "traceid" not in event:
        event["traceid"] = event["traceparent"] = traceparent
    event.setdefault("tracestate", tracestate)
    event.update(topic=topic, pubsubname=pubsub)
    for name, default in (("source", DEFAULT_SOURCE), ("type", DEFAULT_TYPE)):
        if event.get(name) is None:  # Go's `m[k] == nil`: missing or JSON null
            event[name] = default
    if event.get("specversion") is None:
        event["specversion"] = SPEC_VERSION
    return event


def from_raw_payload(data: bytes, topic: str, pubsub: str) -> dict[str, Any]:
    """What a `rawPayload` subscription receives: the bytes as `data_base64`, a fresh id."""
    return {
        "id": str(uuid.uuid4()),
        "specversion": SPEC_VERSION,
        "datacontenttype": "application/octet-stream",
        "source": DEFAULT_SOURCE,
        "type": DEFAULT_TYPE,
        "topic": topic,
        "pubsubname": pubsub,
        "data_base64": base64.b64encode(data).decode("ascii"),
    }


def has_expired(event: dict[str, Any], now: datetime | None = None) -> bool:
    raw = event.get("expiration")
    if not isinstance(raw, str) or not raw:
        return False
    try:
        expiration = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return False
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    return expiration < (now or datetime.now(UTC))
