"""Dead letters end to end: the dev stack (app, sidecar, Tansu, real PostgreSQL) keeps what
reaches dlq-events once per CloudEvent id, and operators redrive or discard it over HTTP.

A test puts an event on dlq-events as daprd's dead-lettering does: the original message's
bytes, unchanged (`metadata.rawPayload=true`, so the publish does not wrap it or overwrite
its `topic`). DAPR-CONTRACT.md, "Publishing a payload that is already a CloudEvent keeps
its `id`": a redrive relies on that to reach consumers under the id they dedupe by.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from api.auth import OPERATOR, issue_token
from devstack.processes import eventually
from devstack.stack import SECRET, Stack
from domain.events import DEAD_LETTERS, TASK_EVENTS, TaskCreated
from messaging.relay import malformed_cloudevent
from tests.integration.events.scenarios import (
    create,
    dead_lettered,
    fetch,
    put_on_dead_letters,
    unhandled_event,
)
from tests.integration.stack_fixture import stack_fixture

stack = stack_fixture("dead_letters")
OPS = "/v1/ops/dead-letters"


def operator(stack: Stack) -> httpx.AsyncClient:
    token = issue_token(SECRET, "ops-ann", roles=[OPERATOR])
    return httpx.AsyncClient(
        base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
    )


async def dead_letter_rows(stack: Stack, event_id: uuid.UUID) -> list[Any]:
    return await fetch(
        stack, "SELECT id, attempts FROM dead_letters WHERE event_id = $1", str(event_id)
    )


async def publish_cloudevent(stack: Stack, topic: str, body: dict[str, Any]) -> None:
    """Published as a CloudEvent of its own, as an app publishing one does (no rawPayload)."""
    async with stack.sidecar() as sidecar:
        r = await sidecar.post(
            f"/v1.0/publish/pubsub/{topic}",
            json=body,
            headers={"content-type": "application/cloudevents+json"},
        )
    assert r.status_code == 204, r.text


async def kept(stack: Stack, event_id: uuid.UUID, attempts: int = 1) -> str:
    """Wait until the event's dead letter has been seen `attempts` times; its id."""

    async def seen() -> bool:
        rows = await dead_letter_rows(stack, event_id)
        return bool(rows) and rows[0]["attempts"] >= attempts

    await eventually(seen, what=f"dead letter {event_id} seen {attempts} times")
    return str((await dead_letter_rows(stack, event_id))[0]["id"])


async def count(stack: Stack, sql: str, *args: Any) -> int:
    return (await fetch(stack, sql, *args))[0][0]


async def test_a_dead_letter_delivered_twice_is_kept_once(stack: Stack) -> None:
    async with stack.client("dl-twice") as c:
        event = unhandled_event(await create(c, title="twice"), "dl-twice")
    body = dead_lettered(event)
    await put_on_dead_letters(stack, body)
    await kept(stack, event.event_id)
    await put_on_dead_letters(stack, body)
    dead_letter_id = await kept(stack, event.event_id, attempts=2)

    assert len(await dead_letter_rows(stack, event.event_id)) == 1
    async with operator(stack) as ops:
        r = await ops.get(f"{OPS}/{dead_letter_id}")
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["event_id"] == str(event.event_id)
        assert got["topic"] == TASK_EVENTS
        assert got["attempts"] == 2
        assert got["state"] == "kept"
        assert got["event"]["data"]["event_id"] == str(event.event_id)
        assert got["reason"].startswith("none given")
        assert got["first_seen"] <= got["last_seen"]

        listed = await ops.get(OPS, params={"state": "kept", "topic": TASK_EVENTS})
        assert listed.status_code == 200, listed.text
        assert dead_letter_id in [d["id"] for d in listed.json()["items"]]


async def test_a_redriven_dead_letter_is_processed_once_by_its_topics_consumers(
    stack: Stack,
) -> None:
    async with stack.client("dl-redrive") as c:
        event = unhandled_event(await create(c, title="redrive me"), "dl-redrive")
    await put_on_dead_letters(stack, dead_lettered(event))
    dead_letter_id = await kept(stack, event.event_id)

    async with operator(stack) as ops:
        r = await ops.post(f"{OPS}/{dead_letter_id}/redrive")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "redriven"
        assert r.json()["settled_by"] == "ops-ann"
        again = await ops.post(f"{OPS}/{dead_letter_id}/redrive")
        assert again.status_code == 409, again.text
        assert again.headers["content-type"] == "application/problem+json"

    audited = "SELECT count(*) FROM audit_log WHERE event_id = $1"

    async def processed() -> bool:
        return await count(stack, audited, event.event_id) >= 1

    await eventually(processed, what="the redriven event audited")
    outbox = await fetch(
        stack,
        "SELECT published_at, redrive_topic FROM outbox WHERE event_id = $1",
        event.event_id,
    )
    assert [r["redrive_topic"] for r in outbox] == [TASK_EVENTS]
    assert outbox[0]["published_at"] is not None
    assert await count(stack, audited, event.event_id) == 1
    notified = "SELECT count(*) FROM notifications WHERE event_id = $1"
    assert await count(stack, notified, event.event_id) == 1
    # to task-events alone: the change feed (task-updates) was not sent it again
    live = "SELECT count(*) FROM processed_events WHERE consumer = 'live' AND event_id = $1"
    assert await count(stack, live, event.event_id) == 0


async def test_a_redrive_of_a_handled_event_is_skipped_by_the_consumers(stack: Stack) -> None:
    """The event's outbox row is still there: it is published again under its id, and the
    consumer that already handled it recognises it."""
    async with stack.client("dl-handled") as c:
        task = await create(c, title="handled before")
    rows = await fetch(
        stack,
        "SELECT event_id, payload, published_at FROM outbox WHERE payload->>'task_id' = $1",
        task["id"],
    )
    event = TaskCreated.model_validate(json.loads(rows[0]["payload"]))
    audited = "SELECT count(*) FROM audit_log WHERE event_id = $1"

    async def handled() -> bool:
        return await count(stack, audited, event.event_id) == 1

    await eventually(handled, what="the task.created event audited")
    first_published = (
        await fetch(stack, "SELECT published_at FROM outbox WHERE event_id = $1", event.event_id)
    )[0]["published_at"]
    await put_on_dead_letters(stack, dead_lettered(event))
    dead_letter_id = await kept(stack, event.event_id)
    async with operator(stack) as ops:
        r = await ops.post(f"{OPS}/{dead_letter_id}/redrive")
        assert r.status_code == 200, r.text

    async def republished() -> bool:
        row = await fetch(
            stack, "SELECT published_at FROM outbox WHERE event_id = $1", event.event_id
        )
        return row[0]["published_at"] is not None and row[0]["published_at"] > first_published

    await eventually(republished, what="the outbox row published again")
    # A later event of the same task shares its partition key, and a partition is delivered
    # in order: once that one is audited, the redriven one has been delivered too.
    async with stack.client("dl-handled") as c:
        r = await c.patch(
            f"/v1/tasks/{task['id']}",
            json={"title": "handled after"},
            headers={"If-Match": str(task["version"])},
        )
        assert r.status_code == 200, r.text
    later = "SELECT count(*) FROM audit_log WHERE task_id = $1 AND action = 'task.updated'"

    async def later_audited() -> bool:
        return await count(stack, later, uuid.UUID(task["id"])) == 1

    await eventually(later_audited, what="the later task.updated audited")
    assert await count(stack, audited, event.event_id) == 1
    notified = "SELECT count(*) FROM notifications WHERE event_id = $1"
    assert await count(stack, notified, event.event_id) == 1
    outbox = "SELECT count(*) FROM outbox WHERE event_id = $1"
    assert await count(stack, outbox, event.event_id) == 1


async def test_a_discarded_dead_letter_is_settled_and_stays_so(stack: Stack) -> None:
    async with stack.client("dl-discard") as c:
        event = unhandled_event(await create(c, title="discard me"), "dl-discard")
    await put_on_dead_letters(stack, dead_lettered(event))
    dead_letter_id = await kept(stack, event.event_id)

    async with operator(stack) as ops:
        r = await ops.post(f"{OPS}/{dead_letter_id}/discard")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "discarded"
        assert r.json()["settled_by"] == "ops-ann"
        assert r.json()["settled_at"] is not None
        for verb in ("discard", "redrive"):
            again = await ops.post(f"{OPS}/{dead_letter_id}/{verb}")
            assert again.status_code == 409, again.text
        listed = await ops.get(OPS, params={"state": "discarded"})
        assert dead_letter_id in [d["id"] for d in listed.json()["items"]]
    outbox = "SELECT count(*) FROM outbox WHERE event_id = $1"
    assert await count(stack, outbox, event.event_id) == 0


async def test_an_event_its_consumer_drops_is_dead_lettered_by_the_sidecar_and_kept(
    stack: Stack,
) -> None:
    """The whole path, with no test standing in for the sidecar's dead-lettering: a
    CloudEvent on task-events that holds no Tickler event is answered DROP, so the sidecar
    sends it to the subscription's deadLetterTopic, as daprd does
    (`pkg/runtime/subscription/subscription.go`, sendToDeadLetter: the message's bytes,
    unchanged, so its `topic` is still task-events). DAPR-CONTRACT.md, "Publishing a payload
    that is already a CloudEvent keeps its `id`": the test finds it by the id it gave it."""
    event_id = uuid.uuid4()
    body = {
        "specversion": "1.0",
        "id": str(event_id),
        "source": "elsewhere",
        "type": "com.example.unknown",
        "datacontenttype": "application/json",
        "data": {"event_id": str(event_id), "type": "task.renamed"},
    }
    await publish_cloudevent(stack, TASK_EVENTS, body)

    dead_letter_id = await kept(stack, event_id)
    async with operator(stack) as ops:
        got = (await ops.get(f"{OPS}/{dead_letter_id}")).json()
        assert (got["topic"], got["attempts"], got["state"]) == (TASK_EVENTS, 1, "kept")
        assert got["reason"].startswith("none given")
        r = await ops.post(f"{OPS}/{dead_letter_id}/redrive")
        assert r.status_code == 409, r.text
        assert "not hold a Tickler event" in r.json()["detail"]


async def test_a_dead_letter_of_unknown_origin_cannot_be_redriven_but_can_be_discarded(
    stack: Stack,
) -> None:
    """What the relay dead-letters itself (an outbox payload no event type accepts) is
    published to dlq-events as a new CloudEvent, so its `topic` is dlq-events: its origin
    is unknown."""
    event_id = uuid.uuid4()
    body = malformed_cloudevent({"event_id": str(event_id), "type": "task.renamed"})
    await publish_cloudevent(stack, DEAD_LETTERS, body)

    dead_letter_id = await kept(stack, event_id)
    async with operator(stack) as ops:
        got = (await ops.get(f"{OPS}/{dead_letter_id}")).json()
        assert got["topic"] is None
        assert "matched no event type" in got["reason"]
        r = await ops.post(f"{OPS}/{dead_letter_id}/redrive")
        assert r.status_code == 409, r.text
        assert "discard it" in r.json()["detail"]
        r = await ops.post(f"{OPS}/{dead_letter_id}/discard")
        assert r.status_code == 200, r.text


async def test_a_caller_without_the_operator_role_is_forbidden(stack: Stack) -> None:
    async with stack.client("not-an-operator") as c:
        for method, path in (
            ("GET", OPS),
            ("GET", f"{OPS}/{uuid.uuid4()}"),
            ("POST", f"{OPS}/{uuid.uuid4()}/redrive"),
            ("POST", f"{OPS}/{uuid.uuid4()}/discard"),
        ):
            r = await c.request(method, path)
            assert r.status_code == 403, (method, path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["title"] == "Forbidden"
    async with httpx.AsyncClient(base_url=stack.base_url) as anonymous:
        assert (await anonymous.get(OPS)).status_code == 401


async def test_an_unknown_dead_letter_is_404_and_bad_input_names_its_field(stack: Stack) -> None:
    async with operator(stack) as ops:
        for method, path in (
            ("GET", f"{OPS}/{uuid.uuid4()}"),
            ("POST", f"{OPS}/{uuid.uuid4()}/redrive"),
            ("POST", f"{OPS}/{uuid.uuid4()}/discard"),
        ):
            r = await ops.request(method, path)
            assert r.status_code == 404, (method, path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        for params, field in (
            ({"state": "lost"}, "state"),
            ({"limit": "0"}, "limit"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"colour": "red"}, "colour"),
            ({"topic": "task events\u0000"}, "topic"),
        ):
            r = await ops.get(OPS, params=params)
            assert r.status_code == 422, (params, r.text)
            assert field in [e["field"] for e in r.json()["errors"]], r.text
        r = await ops.get(f"{OPS}/not-a-uuid")
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["dead_letter_id"]


async def test_pages_of_dead_letters_join_up_to_the_whole_list(stack: Stack) -> None:
    async with stack.client("dl-pages") as c:
        task = await create(c, title="paged")
    events = [unhandled_event(task, "dl-pages") for _ in range(3)]
    for event in events:
        await put_on_dead_letters(stack, dead_lettered(event))
    for event in events:
        await kept(stack, event.event_id)
    async with operator(stack) as ops:
        whole = (await ops.get(OPS, params={"limit": 200})).json()
        assert whole["next_cursor"] is None
        paged: list[str] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            page = (await ops.get(OPS, params=params)).json()
            paged += [d["id"] for d in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
    assert paged == [d["id"] for d in whole["items"]]
    assert len(paged) >= 3


async def test_a_bulk_redrive_after_its_dry_run_reaches_each_consumer_once(stack: Stack) -> None:
    async with stack.client("dl-bulk") as c:
        events = [unhandled_event(await create(c, title=f"bulk {n}"), "dl-bulk") for n in range(3)]
    for event in events:
        await put_on_dead_letters(stack, dead_lettered(event))
        await kept(stack, event.event_id)
    async with operator(stack) as ops:
        dry = (await ops.post(f"{OPS}/bulk", json={"verb": "redrive", "topic": TASK_EVENTS})).json()
        assert dry["dry_run"] and dry["count"] >= 3
        stale = await ops.post(
            f"{OPS}/bulk", json={"verb": "redrive", "topic": TASK_EVENTS, "count": dry["count"] + 1}
        )
        assert stale.status_code == 409, stale.text
        done = await ops.post(
            f"{OPS}/bulk", json={"verb": "redrive", "topic": TASK_EVENTS, "count": dry["count"]}
        )
        assert done.status_code == 200, done.text
        assert done.json()["done"] + done.json()["skipped"] == dry["count"]
    audited = "SELECT count(*) FROM audit_log WHERE event_id = ANY($1::uuid[])"
    ids = [e.event_id for e in events]

    async def all_audited() -> bool:
        return await count(stack, audited, ids) == 3

    await eventually(all_audited, what="the three redriven events audited")
