"""The subscriber routes and the events API in-process (no sidecar), on real PostgreSQL: what
the sidecar would POST is POSTed here directly, so malformed input and redelivery are exact."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from api.auth import issue_token
from api.main import create_app
from api.settings import Settings
from domain.events import TaskCreated
from store.database import migrate
from tests.e2e.conftest import running

SECRET = "subscribers-secret-0123456789abcdefghij"


@pytest.fixture(scope="module")
async def database(make_database) -> str:
    url = await make_database("subs")
    await asyncio.to_thread(migrate, url)
    return url


@pytest.fixture(scope="module")
async def client(database: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(env="test", database_url=database, jwt_secret=SECRET))
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tickler") as c:
            yield c


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user)}"}


def cloudevent(event: TaskCreated) -> dict:
    return {
        "specversion": "1.0",
        "id": str(event.event_id),
        "source": "tickler",
        "type": event.cloudevent_type,
        "datacontenttype": "application/json",
        "data": event.model_dump(mode="json"),
    }


def bulk(*events: object) -> bytes:
    """A bulk delivery as daprd's HTTP postman sends it (entries numbered as the Kafka
    component numbers them): pkg/runtime/pubsub/bulksubscribe_events.go."""
    return json.dumps(
        {
            "entries": [
                {
                    "entryId": str(i),
                    "event": event,
                    "contentType": "application/cloudevents+json",
                    "metadata": {"__offset": str(i), "__partition": "0"},
                }
                for i, event in enumerate(events)
            ],
            "id": str(uuid.uuid4()),
            "metadata": {"pubsubName": "pubsub"},
            "pubsubname": "pubsub",
            "topic": "task-events",
            "type": "com.dapr.event.sent.bulk",
        }
    ).encode()


def statuses(response: httpx.Response) -> list[str]:
    return [s["status"] for s in response.json()["statuses"]]


async def count(database: str, sql: str, *args) -> int:
    conn = await asyncpg.connect(database)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def test_the_app_subscribes_to_its_topics_with_a_dead_letter_topic(client) -> None:
    r = await client.get("/dapr/subscribe")
    bulk_topics = {s["topic"] for s in r.json() if s.get("bulkSubscribe", {}).get("enabled")}
    assert bulk_topics == {"task-events", "reminders", "task-updates"}
    assert {(s["topic"], s["route"], s.get("deadLetterTopic")) for s in r.json()} == {
        ("task-events", "/events/task-events", "dlq-events"),
        ("reminders", "/events/reminders", "dlq-events"),
        ("task-updates", "/events/task-updates", "dlq-events"),
        # the dead letters' own subscription has none: a dead letter never goes round again
        ("dlq-events", "/events/dlq-events", None),
    }
    assert {s["pubsubname"] for s in r.json()} == {"pubsub"}


@pytest.mark.parametrize(
    "event",
    [
        "not json",
        [],
        {"data": {"type": "task.exploded"}},
        {"data": {"type": 1}},
        {"id": "x"},
    ],
)
async def test_a_malformed_event_is_dropped_and_its_neighbours_handled(client, event) -> None:
    good = TaskCreated(
        occurred_at=datetime(2027, 1, 4, tzinfo=UTC), user_id="mixed", task_id=uuid.uuid4()
    )
    r = await client.post("/events/task-events", content=bulk(event, cloudevent(good)))
    assert statuses(r) == ["DROP", "SUCCESS"]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"entries": 3}'])
async def test_a_malformed_bulk_delivery_gets_no_statuses(client, body: bytes) -> None:
    """No status for an entry is a failure to daprd: it retries them, then dead-letters."""
    r = await client.post("/events/task-events", content=body)
    assert r.json() == {"statuses": []}


async def test_one_bulk_delivery_is_handled_event_by_event(client, database: str) -> None:
    events = [
        TaskCreated(
            occurred_at=datetime(2027, 1, 4, tzinfo=UTC),
            user_id="batch",
            task_id=uuid.uuid4(),
            data={"title": f"item {i}"},
        )
        for i in range(3)
    ]
    r = await client.post("/events/task-events", content=bulk(*map(cloudevent, events)))
    assert statuses(r) == ["SUCCESS"] * 3
    for event in events:
        sql = "SELECT count(*) FROM audit_log WHERE event_id = $1"
        assert await count(database, sql, event.event_id) == 1


async def delivered(client, user: str, title: str, times: int) -> TaskCreated:
    """A task.created event for `user`, POSTed `times` times as the sidecar would."""
    event = TaskCreated(
        occurred_at=datetime(2027, 1, 4, tzinfo=UTC),
        user_id=user,
        task_id=uuid.uuid4(),
        data={"title": title},
    )
    for _ in range(times):
        r = await client.post("/events/task-events", content=bulk(cloudevent(event)))
        assert statuses(r) == ["SUCCESS"]
    return event


async def test_a_redelivered_event_is_handled_once(client, database: str) -> None:
    event = await delivered(client, "redo", "twice", times=3)
    for table in ("audit_log", "notifications"):
        sql = f"SELECT count(*) FROM {table} WHERE event_id = $1"
        assert await count(database, sql, event.event_id) == 1
    processed = "SELECT count(*) FROM processed_events WHERE event_id = $1"
    assert await count(database, processed, event.event_id) == 2  # audit and notifier
    notes = (await client.get("/v1/notifications", headers=auth("redo"))).json()["items"]
    assert [n["title"] for n in notes] == ["Task created: twice"]


async def test_reading_a_notification_twice_keeps_the_first_read_time(client) -> None:
    event = TaskCreated(
        occurred_at=datetime(2027, 1, 4, tzinfo=UTC), user_id="reader", task_id=uuid.uuid4()
    )
    await client.post("/events/task-events", content=bulk(cloudevent(event)))
    [note] = (await client.get("/v1/notifications", headers=auth("reader"))).json()["items"]
    first = await client.post(f"/v1/notifications/{note['id']}/read", headers=auth("reader"))
    again = await client.post(f"/v1/notifications/{note['id']}/read", headers=auth("reader"))
    assert first.json()["read_at"] == again.json()["read_at"] is not None
    unread = await client.get("/v1/notifications?unread=true", headers=auth("reader"))
    assert unread.json()["items"] == []


async def test_the_webhook_is_set_shown_without_its_secret_and_deleted(client) -> None:
    h = auth("hooks")
    assert (await client.get("/v1/webhook", headers=h)).status_code == 404
    body = {"url": "https://example.com/hook", "secret": "s" * 16}
    r = await client.put("/v1/webhook", json=body, headers=h)
    assert r.status_code == 200 and r.json()["url"] == "https://example.com/hook"
    assert "secret" not in (await client.get("/v1/webhook", headers=h)).json()
    assert (await client.get("/v1/webhook", headers=auth("other"))).status_code == 404
    assert (await client.delete("/v1/webhook", headers=h)).status_code == 204
    assert (await client.delete("/v1/webhook", headers=h)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "/v1/webhook", {"url": "https://x.test", "secret": "s" * 16, "x": 1}, "x"),
        ("PUT", "/v1/webhook", {"url": "ftp://x.test", "secret": "s" * 16}, "url"),
        ("PUT", "/v1/webhook", {"url": "https://x.test", "secret": "short"}, "secret"),
        ("GET", "/v1/notifications?colour=red", None, "colour"),
        ("GET", "/v1/notifications?limit=0", None, "limit"),
        ("GET", "/v1/audit?task_id=nope", None, "task_id"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(client, method, path, body, field) -> None:
    r = await client.request(method, path, json=body, headers=auth("typo"))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in r.json()["errors"]}


async def test_without_a_sidecar_events_stay_in_the_outbox(client, database: str) -> None:
    r = await client.post("/v1/tasks", json={"title": "alone"}, headers=auth("solo"))
    assert r.status_code == 201
    sql = "SELECT count(*) FROM outbox WHERE user_id = 'solo' AND published_at IS NULL"
    assert await count(database, sql) == 1
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "outbox-relay"]


async def test_the_stream_needs_a_bearer_token(client) -> None:
    r = await client.get("/v1/stream")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3500/v1.0/actors",  # the sidecar
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata
        "http://10.0.0.7/hook",
        "https://[::1]/hook",
        "https://[::ffff:192.168.1.1]/hook",
    ],
)
async def test_a_webhook_to_a_non_public_address_is_refused(client, url: str) -> None:
    r = await client.put("/v1/webhook", json={"url": url, "secret": "s" * 16}, headers=auth("ssrf"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == ["url"]
    assert (await client.get("/v1/webhook", headers=auth("ssrf"))).status_code == 404


async def test_a_delivery_to_a_private_address_is_refused_once_and_never_sent(
    client, database: str
) -> None:
    """A target that turned private after it was set (its name now resolves to a private
    address, or it was stored before the check): no request leaves, and redeliveries of
    the event do not try again."""
    from tests.integration.events.scenarios import Receiver

    receiver = Receiver()
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(
            "INSERT INTO webhooks (user_id, url, secret) VALUES ('turned', $1, $2)",
            receiver.url,
            "s" * 16,
        )
        event = await delivered(client, "turned", "ping", times=2)
        delivery = await conn.fetchrow(
            "SELECT attempts, last_status, delivered_at FROM webhook_deliveries "
            "WHERE event_id = $1",
            event.event_id,
        )
    finally:
        await conn.close()
        receiver.close()
    assert receiver.requests == []
    assert dict(delivery) == {"attempts": 0, "last_status": "refused", "delivered_at": None}
