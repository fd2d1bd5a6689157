"""What both event test modules check, whichever transport the pub/sub component uses: the
app's consumers, its webhook, its change feed, and the outbox across a sidecar outage."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx

from devstack.processes import eventually
from devstack.stack import Stack
from domain.events import DEAD_LETTERS, TASK_EVENTS, TaskCreated
from messaging.relay import cloudevent
from store.database import plain_url

CONSUMERS = ("audit", "notifier", "live")


async def create(client: httpx.AsyncClient, **body: Any) -> dict:
    body.setdefault("title", "a task")
    r = await client.post("/v1/tasks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


# ---- dead letters, put on dlq-events as daprd's dead-lettering does ----


def dead_lettered(event: TaskCreated, topic: str = TASK_EVENTS) -> bytes:
    """The CloudEvent as the relay published it and daprd delivered it on `topic`."""
    _, body, _ = cloudevent(event.model_dump(mode="json"))
    envelope: dict[str, Any] = json.loads(body)
    envelope.update(topic=topic, pubsubname="pubsub")
    return json.dumps(envelope).encode()


async def put_on_dead_letters(stack: Stack, body: bytes) -> None:
    async with stack.sidecar() as sidecar:
        r = await sidecar.post(
            f"/v1.0/publish/pubsub/{DEAD_LETTERS}",
            params={"metadata.rawPayload": "true"},
            content=body,
            headers={"content-type": "application/cloudevents+json"},
        )
    assert r.status_code == 204, r.text


def unhandled_event(task: dict[str, Any], user: str) -> TaskCreated:
    """A task event that never reached its consumers (as if every delivery had failed)."""
    return TaskCreated(
        occurred_at=datetime.now(UTC),
        user_id=user,
        task_id=uuid.UUID(task["id"]),
        data={"title": task["title"]},
    )


async def fetch(stack: Stack, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain_url(stack.database_url))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def outbox_of(stack: Stack, task_ids: list[str]) -> list[asyncpg.Record]:
    return await fetch(
        stack,
        "SELECT event_id, type, published_at FROM outbox WHERE payload->>'task_id' = ANY($1)"
        " ORDER BY id",
        task_ids,
    )


async def handled_counts(stack: Stack, event_ids: list[uuid.UUID]) -> dict[str, list[int]]:
    """Per consumer (and audit_log, notifications), how many rows each event left behind."""
    counts: dict[str, list[int]] = {}
    queries = {
        **{
            c: f"SELECT count(*) FROM processed_events WHERE consumer = '{c}' AND event_id = $1"
            for c in CONSUMERS
        },
        "audit_log": "SELECT count(*) FROM audit_log WHERE event_id = $1",
        "notifications": "SELECT count(*) FROM notifications WHERE event_id = $1",
    }
    for name, sql in queries.items():
        counts[name] = [(await fetch(stack, sql, e))[0][0] for e in event_ids]
    return counts


async def all_handled(stack: Stack, event_ids: list[uuid.UUID]) -> bool:
    counts = await handled_counts(stack, event_ids)
    return all(n >= 1 for c in CONSUMERS for n in counts[c])


@dataclass
class Receiver:
    """A webhook receiver on loopback that answers 500 to its first `failures` requests."""

    failures: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if len(receiver.requests) <= receiver.failures else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def signature_valid(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("x-tickler-signature", ""))


async def sse(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Server-sent events as dicts of their fields; a comment line comes as {"comment"}."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if fields:
                yield fields
            fields = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def next_data(events: AsyncIterator[dict[str, str]]) -> dict[str, str]:
    async for item in events:
        if "data" in item:
            return item
    raise AssertionError("the stream ended")


# --- scenarios -------------------------------------------------------------------------


async def created_and_completed_task_is_audited_and_notified_once(stack: Stack) -> None:
    async with stack.client("auditee") as c:
        task = await create(c, title="file the taxes")
        r = await c.post(f"/v1/tasks/{task['id']}/complete")
        assert r.status_code == 200, r.text

        async def trail() -> list[dict]:
            r = await c.get("/v1/audit", params={"task_id": task["id"]})
            assert r.status_code == 200, r.text
            return r.json()["items"]

        await eventually(lambda: _has(trail, 2), within=60, what=f"2 audit entries\n{_logs(stack)}")
        entries = await trail()
        assert [e["action"] for e in entries] == ["task.completed", "task.created"]
        assert {e["actor"] for e in entries} == {"auditee"}
        assert entries[1]["details"]["title"] == "file the taxes"

        r = await c.get("/v1/notifications", params={"unread": "true"})
        mine = [n for n in r.json()["items"] if n["task_id"] == task["id"]]
        assert sorted(n["kind"] for n in mine) == ["task.completed", "task.created"]
        assert all("file the taxes" in n["title"] for n in mine)
        read = await c.post(f"/v1/notifications/{mine[0]['id']}/read")
        assert read.status_code == 200 and read.json()["read_at"] is not None
        unread = (await c.get("/v1/notifications", params={"unread": "true"})).json()["items"]
        assert mine[0]["id"] not in {n["id"] for n in unread}

    async with stack.client("stranger") as other:
        assert (await other.get("/v1/audit", params={"task_id": task["id"]})).json() == {
            "items": []
        }
        assert (await other.post(f"/v1/notifications/{mine[1]['id']}/read")).status_code == 404

    rows = await outbox_of(stack, [task["id"]])
    assert all(row["published_at"] is not None for row in rows)
    await eventually(
        lambda: all_handled(stack, [r["event_id"] for r in rows]), within=30, what="live"
    )
    counts = await handled_counts(stack, [r["event_id"] for r in rows])
    assert counts == {name: [1] * len(rows) for name in counts}


async def failing_webhook_is_retried_with_one_delivery_id(stack: Stack) -> None:
    secret = "whsec-" + uuid.uuid4().hex
    receiver = Receiver(failures=2)
    try:
        async with stack.client("hooked") as c:
            r = await c.put("/v1/webhook", json={"url": receiver.url, "secret": secret})
            assert r.status_code == 200, r.text
            assert "secret" not in r.json()
            task = await create(c, title="ping me")
            await eventually(
                lambda: _true(len(receiver.requests) >= 3),
                within=60,
                what=f"3 webhook attempts\n{_logs(stack)}",
            )
            notes = (await c.get("/v1/notifications")).json()["items"]
        attempts = receiver.requests
        assert len({h["x-tickler-delivery"] for h, _ in attempts}) == 1
        assert {h["x-tickler-event"] for h, _ in attempts} == {"task.created"}
        for headers, body in attempts:
            assert signature_valid(secret, headers, body)
            assert not signature_valid(secret + "x", headers, body)
            assert not signature_valid(secret, headers, body + b" ")
        assert json.loads(attempts[-1][1])["task_id"] == task["id"]
        assert [n["kind"] for n in notes if n["task_id"] == task["id"]] == ["task.created"]
        [delivery] = await fetch(
            stack,
            "SELECT delivery_id, attempts, last_status, delivered_at FROM webhook_deliveries"
            " WHERE user_id = 'hooked'",
        )
        assert str(delivery["delivery_id"]) == attempts[0][0]["x-tickler-delivery"]
        assert (delivery["attempts"], delivery["last_status"]) == (3, "204")
        assert delivery["delivered_at"] is not None
    finally:
        receiver.close()


async def change_reaches_the_stream_within_a_second(stack: Stack) -> float:
    async with (
        stack.client("watcher") as c,
        stack.client("watcher") as writer,
        c.stream("GET", "/v1/stream") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse(response)
        assert await anext(events) == {"comment": "listening"}
        started = time.monotonic()
        task = await create(writer, title="watch me")
        message = await asyncio.wait_for(next_data(events), 10)
        latency = time.monotonic() - started
    event = json.loads(message["data"])
    assert (event["type"], event["task_id"]) == ("task.created", task["id"])
    assert message["id"] == event["event_id"]
    assert latency < 1.0, f"change took {latency:.3f}s to reach the stream"
    return latency


async def reconnecting_stream_replays_what_it_missed(stack: Stack) -> None:
    async with stack.client("returning") as c:
        first = await create(c, title="seen")
        missed = [await create(c, title=f"missed {n}") for n in range(2)]
        [seen] = await outbox_of(stack, [first["id"]])
        headers = {"Last-Event-ID": str(seen["event_id"])}
        async with c.stream("GET", "/v1/stream", headers=headers) as response:
            events = sse(response)
            replayed = [json.loads((await next_data(events))["data"]) for _ in missed]
    assert [e["task_id"] for e in replayed] == [t["id"] for t in missed]


async def events_wait_in_the_outbox_while_the_sidecar_is_down(stack: Stack) -> None:
    pair = stack.pair

    def up() -> None:
        pair.start_sidecar()
        pair.wait_sidecar_ready(timeout=60)

    await events_wait_in_the_outbox_during_an_outage(stack, pair.sidecar.kill, up)


async def events_wait_in_the_outbox_while_the_broker_is_down(
    stack: Stack, down: Callable[[], None], up: Callable[[], None]
) -> None:
    await events_wait_in_the_outbox_during_an_outage(stack, down, up)


async def events_wait_in_the_outbox_during_an_outage(
    stack: Stack, down: Callable[[], None], up: Callable[[], None]
) -> None:
    """Tasks created during the outage stay unpublished; after it every event reaches every
    consumer exactly once."""
    pair = stack.pair
    paused = pair.app.log().count("outbox relay paused")
    down()
    try:
        async with stack.client("outage") as c:
            tasks = [await create(c, title=f"during outage {n}") for n in range(5)]
        await eventually(
            lambda: _true(pair.app.log().count("outbox relay paused") > paused),
            within=60,
            what=f"the relay to notice the outage\n{_logs(stack)}",
        )
        ids = [t["id"] for t in tasks]
        assert [r["published_at"] for r in await outbox_of(stack, ids)] == [None] * 5
    finally:
        await asyncio.to_thread(up)

    async def published() -> bool:
        return all(r["published_at"] is not None for r in await outbox_of(stack, ids))

    await eventually(published, within=90, what=f"the backlog published\n{_logs(stack)}")
    event_ids = [r["event_id"] for r in await outbox_of(stack, ids)]
    await eventually(
        lambda: all_handled(stack, event_ids), within=90, what=f"consumers\n{_logs(stack)}"
    )
    counts = await handled_counts(stack, event_ids)
    assert counts == {name: [1] * 5 for name in counts}


async def _has(rows, count: int) -> bool:
    return len(await rows()) >= count


async def _true(value: bool) -> bool:
    return value


def _logs(stack: Stack) -> str:
    pair = stack.pair
    return (
        f"--- app\n{pair.app.log()[-2000:] if pair.app else ''}\n"
        f"--- sidecar\n{pair.sidecar.log()[-2000:] if pair.sidecar else ''}"
    )
