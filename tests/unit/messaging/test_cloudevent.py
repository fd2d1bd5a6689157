"""The relay's CloudEvent carries the writer's trace context in both `traceparent` and
`traceid`: daprd keeps a published CloudEvent's trace fields only when `traceid` is there
(pkg/runtime/pubsub/envelope.go), and overwrites them with its own otherwise."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from domain.events import TaskCreated
from messaging.relay import cloudevent

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def payload() -> dict:
    event = TaskCreated(occurred_at=datetime.now(UTC), user_id="u", task_id=uuid.uuid4())
    return event.model_dump(mode="json")


def test_the_writers_trace_goes_into_both_trace_fields() -> None:
    _, body, _ = cloudevent(payload(), PARENT)
    sent = json.loads(body)
    assert sent["traceparent"] == sent["traceid"] == PARENT


def test_without_a_trace_the_sidecar_is_left_to_make_one() -> None:
    _, body, _ = cloudevent(payload(), None)
    assert not {"traceparent", "traceid"} & json.loads(body).keys()
