"""A subscriber app for the pub/sub tests, declaring its subscriptions with dapr.ext.fastapi.

Every delivery is recorded (topic, event, content type, attempt number) and can be read back
at `GET /received/{topic}`. The topic decides how the app answers:
  orders, raw, orders-dlq, doomed-dlq: SUCCESS (raw has `rawPayload: "true"`)
  flaky: RETRY on the first two attempts of an event, then SUCCESS
  doomed: HTTP 500 every time; its deadLetterTopic is doomed-dlq
  failing: HTTP 500 every time, and no dead-letter topic
  dropped: DROP (no dead-letter topic)
  empty: an empty 200, which Dapr treats as success
  missing: HTTP 404 every time; its deadLetterTopic is missing-dlq
  slow: answers SUCCESS after 2 s (past a tight resiliency timeout); deadLetterTopic slow-dlq
Topic names carry the prefix of env `PUBSUB_TOPIC_PREFIX`, so Kafka runs use fresh topics.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from typing import Any

from dapr.ext.fastapi import DaprApp
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

PUBSUB = "pubsub"
PREFIX = os.environ.get("PUBSUB_TOPIC_PREFIX", "")

app = FastAPI()
dapr_app = DaprApp(app)
received: dict[str, list[dict[str, Any]]] = defaultdict(list)
attempts: dict[tuple[str, str], int] = defaultdict(int)


@app.get("/healthz")
def healthz() -> Response:
    return Response(status_code=200)


@app.get("/received/{topic}")
def list_received(topic: str) -> list[dict[str, Any]]:
    return received[topic]


async def _record(topic: str, request: Request) -> int:
    event = await request.json()
    key = (topic, str(event.get("id")))
    attempts[key] += 1
    received[topic].append(
        {
            "event": event,
            "content_type": request.headers.get("content-type"),
            "traceparent": request.headers.get("traceparent"),
            "attempt": attempts[key],
        }
    )
    return attempts[key]


def _topic(name: str) -> str:
    return PREFIX + name


@dapr_app.subscribe(pubsub=PUBSUB, topic=_topic("orders"), route="/events/orders")
async def on_order(request: Request) -> dict[str, str]:
    await _record("orders", request)
    return {"status": "SUCCESS"}


@dapr_app.subscribe(
    pubsub=PUBSUB, topic=_topic("raw"), route="/events/raw", metadata={"rawPayload": "true"}
)
async def on_raw(request: Request) -> dict[str, str]:
    await _record("raw", request)
    return {"status": "SUCCESS"}


@dapr_app.subscribe(pubsub=PUBSUB, topic=_topic("flaky"), route="/events/flaky")
async def on_flaky(request: Request) -> dict[str, str]:
    attempt = await _record("flaky", request)
    return {"status": "RETRY" if attempt <= 2 else "SUCCESS"}


@dapr_app.subscribe(
    pubsub=PUBSUB,
    topic=_topic("doomed"),
    route="/events/doomed",
    dead_letter_topic=_topic("doomed-dlq"),
)
async def on_doomed(request: Request) -> JSONResponse:
    await _record("doomed", request)
    return JSONResponse({"error": "cannot handle this"}, status_code=500)


@dapr_app.subscribe(pubsub=PUBSUB, topic=_topic("doomed-dlq"), route="/events/doomed-dlq")
async def on_doomed_dead_letter(request: Request) -> dict[str, str]:
    await _record("doomed-dlq", request)
    return {"status": "SUCCESS"}


@dapr_app.subscribe(pubsub=PUBSUB, topic=_topic("failing"), route="/events/failing")
async def on_failing(request: Request) -> JSONResponse:
    await _record("failing", request)
    return JSONResponse({"error": "cannot handle this"}, status_code=500)


@dapr_app.subscribe(pubsub=PUBSUB, topic=_topic("dropped"), route="/events/dropped")
async def on_dropped(request: Request) -> dict[str, str]:
    await _record("dropped", request)
    return {"status": "DROP"}


@dapr_app.subscribe(pubsub=PUBSUB, topic=_topic("empty"), route="/events/empty")
async def on_empty(request: Request) -> Response:
    await _record("empty", request)
    return Response(status_code=200)


@dapr_app.subscribe(
    pubsub=PUBSUB,
    topic=_topic("missing"),
    route="/events/missing",
    dead_letter_topic=_topic("missing-dlq"),
)
async def on_missing(request: Request) -> JSONResponse:
    await _record("missing", request)
    return JSONResponse({"error": "no such thing"}, status_code=404)


@dapr_app.subscribe(
    pubsub=PUBSUB, topic=_topic("slow"), route="/events/slow", dead_letter_topic=_topic("slow-dlq")
)
async def on_slow(request: Request) -> dict[str, str]:
    await _record("slow", request)
    await asyncio.sleep(2.0)  # outlasts the test's resiliency timeout: the app is slow
    return {"status": "SUCCESS"}


for _dead_letters in ("missing-dlq", "slow-dlq"):

    async def _on_dead_letter(request: Request, topic: str = _dead_letters) -> dict[str, str]:
        await _record(topic, request)
        return {"status": "SUCCESS"}

    route = f"/events/{_dead_letters}"
    dapr_app.subscribe(pubsub=PUBSUB, topic=_topic(_dead_letters), route=route)(_on_dead_letter)
