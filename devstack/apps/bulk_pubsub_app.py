"""The subscriber app of the bulk pub/sub tests, run in its own process under uvicorn.

It declares bulk subscriptions at GET /dapr/subscribe, records every bulk POST, and answers
each entry as its event's data asks (`answer`: SUCCESS, DROP, RETRY, RETRY_ONCE,
MISSING_ONCE), or 500 on a `fail500` topic's first POST of a mark. Topics carry the prefix in
BULK_TOPIC_PREFIX, so test modules sharing a broker or database stay apart.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

PREFIX = os.environ.get("BULK_TOPIC_PREFIX", "")
BULK = {"enabled": True, "maxMessagesCount": 10, "maxAwaitDurationMs": 300}

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
