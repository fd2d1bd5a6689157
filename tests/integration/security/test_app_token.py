"""The sidecar-to-app channel is authenticated: with the stack running as `tickler dev` runs
it (APP_API_TOKEN and DAPR_API_TOKEN set), a caller that reaches the app's port without the
token can neither forge events nor call actor methods, and leaves no row behind.

daprd sends APP_API_TOKEN as `dapr-api-token` on every call to the app
(pkg/security/consts/consts.go AppAPITokenEnvVar, APITokenHeader); the dev sidecar does the
same (sidecar/app_channel.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from devstack.stack import Stack
from domain.events import ReminderDue, TaskCompleted, TaskUpdated
from store.database import plain_url
from tests.integration.stack_fixture import stack_fixture

stack = stack_fixture("app_token")

# One mark in every forged value (user id, task id, event id), so that a row any of them
# left behind, in any table, is found by a text search for the mark.
MARK = uuid.uuid4().hex[:8]  # a UUID's text keeps its first 8 hex digits together
VICTIM = f"victim-{MARK}"


def marked_uuid() -> uuid.UUID:
    return uuid.UUID(MARK + uuid.uuid4().hex[8:])


def cloud_event(event) -> dict:
    """A well-formed CloudEvent, as the sidecar would deliver it."""
    return {
        "specversion": "1.0",
        "id": str(event.event_id),
        "source": "tickler",
        "type": event.cloudevent_type,
        "topic": event.topic,
        "pubsubname": "pubsub",
        "datacontenttype": "application/json",
        "data": event.model_dump(mode="json"),
    }


def forged(route: str) -> dict:
    now = datetime.now(UTC)
    kinds = {
        "/events/task-events": TaskCompleted,
        "/events/reminders": ReminderDue,
        "/events/task-updates": TaskUpdated,
    }
    event = kinds[route](
        occurred_at=now, user_id=VICTIM, task_id=marked_uuid(), event_id=marked_uuid()
    )
    return cloud_event(event)


async def snapshot(stack: Stack) -> dict[str, tuple[int, int]]:
    """Per table: its row count and the rows that carry the mark (app and sidecar tables
    alike: actor state, reminders, processed events, audit)."""
    conn = await asyncpg.connect(plain_url(stack.database_url))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        found = {}
        for row in tables:
            name = row["tablename"]
            found[name] = await conn.fetchrow(
                f"SELECT count(*) AS total, count(*) FILTER (WHERE t::text LIKE $1) AS marked "
                f'FROM "{name}" t',
                f"%{MARK}%",
            )
        return {name: (r["total"], r["marked"]) for name, r in found.items()}
    finally:
        await conn.close()


def app_tables(counts: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Row counts of the app's own tables: the sidecar's (`dapr_*`, `state`) change on
    their own (workflow and placement bookkeeping)."""
    return {
        name: total
        for name, (total, _) in counts.items()
        if not name.startswith("dapr_") and name != "state"
    }


ROUTES = ["/events/task-events", "/events/reminders", "/events/task-updates"]
NO_TOKEN: list[dict[str, str]] = [{}, {"dapr-api-token": "not-the-token"}]


@pytest.mark.parametrize("headers", NO_TOKEN, ids=["no token", "wrong token"])
async def test_forged_events_without_the_token_get_401_and_write_nothing(
    stack: Stack, headers: dict[str, str]
) -> None:
    before = await snapshot(stack)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as attacker:
        for route in ROUTES:
            r = await attacker.post(route, json=forged(route), headers=headers)
            assert r.status_code == 401, (route, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "SUCCESS" not in r.text
        assert (await attacker.get("/dapr/subscribe", headers=headers)).status_code == 401
    after = await snapshot(stack)
    assert app_tables(after) == app_tables(before)
    assert {name: marked for name, (_, marked) in after.items() if marked} == {}


@pytest.mark.parametrize("headers", NO_TOKEN, ids=["no token", "wrong token"])
async def test_a_direct_actor_call_without_the_token_gets_401_and_writes_nothing(
    stack: Stack, headers: dict[str, str]
) -> None:
    before = await snapshot(stack)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as attacker:
        for method in ("SyncAll", "SyncTasks"):
            r = await attacker.put(
                f"/actors/ReminderScheduleActor/{VICTIM}/method/{method}",
                json={},
                headers=headers,
            )
            assert r.status_code == 401, (method, r.status_code, r.text)
        remind = await attacker.put(
            f"/actors/ReminderScheduleActor/{VICTIM}/method/remind/due",
            json={"data": ""},
            headers=headers,
        )
        assert remind.status_code == 401
        assert (await attacker.get("/dapr/config", headers=headers)).status_code == 401
    after = await snapshot(stack)
    assert app_tables(after) == app_tables(before)
    assert {name: marked for name, (_, marked) in after.items() if marked} == {}


async def test_the_sidecar_itself_gets_through_with_the_token(stack: Stack) -> None:
    """The control: the same calls carrying the sidecar's token are served, and the forged
    event is recorded, so the checks above would have seen a write."""
    token = {"dapr-api-token": stack.pair.app_api_token}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as sidecar:
        event = forged("/events/task-updates")
        delivery = {
            "entries": [
                {
                    "entryId": "0",
                    "event": event,
                    "contentType": "application/cloudevents+json",
                    "metadata": {},
                }
            ],
            "id": "bulk-1",
            "pubsubname": "pubsub",
            "topic": "task-updates",
            "type": "com.dapr.event.sent.bulk",
        }
        r = await sidecar.post("/events/task-updates", json=delivery, headers=token)
        assert r.json() == {"statuses": [{"entryId": "0", "status": "SUCCESS"}]}
        actor = await sidecar.put(
            f"/actors/ReminderScheduleActor/control-{VICTIM}/method/SyncAll",
            json={},
            headers=token,
        )
        assert actor.status_code == 200, actor.text
    after = await snapshot(stack)
    assert after["processed_events"][1] == 1


async def test_the_sidecar_refuses_api_calls_without_the_api_token(stack: Stack) -> None:
    """The other direction: the sidecar takes API calls only with DAPR_API_TOKEN, as daprd
    does when the variable is set (pkg/api/http/server.go, its API token middleware)."""
    url = f"{stack.sidecar_url}/v1.0/metadata"
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(url)).status_code == 401
    async with stack.sidecar() as sidecar:
        assert (await sidecar.get("/v1.0/metadata")).status_code == 200
