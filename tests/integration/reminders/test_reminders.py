"""Reminders end to end: the ReminderScheduleActor arms a durable actor reminder, and each
reminder goes out as one `reminder.due` event at its time, never twice, never for a closed
task, and not lost when the sidecar dies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from api.auth import issue_token
from devstack.processes import eventually
from devstack.stack import SECRET, Stack
from store.database import plain_url
from tests.integration.stack_fixture import stack_fixture

stack = stack_fixture("reminders")


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def due_events(stack: Stack, reminder_id: str) -> int:
    conn = await asyncpg.connect(plain_url(stack.database_url))
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'reminder.due' "
            "AND payload -> 'data' ->> 'reminder_id' = $1",
            reminder_id,
        )
    finally:
        await conn.close()


async def create_with_reminder(c, seconds: float, title: str = "remind me") -> dict:
    r = await c.post("/v1/tasks", json={"title": title, "reminders": [{"at": soon(seconds)}]})
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_reminder_fires_once_at_its_time(stack: Stack) -> None:
    async with stack.client("once") as c:
        task = await create_with_reminder(c, 1.5)
        rid = task["reminders"][0]["id"]
        fire_at = datetime.fromisoformat(task["reminders"][0]["fire_at"])

        async def fired() -> bool:
            return await due_events(stack, rid) == 1

        await eventually(fired, within=20, what="reminder.due")
        assert datetime.now(UTC) >= fire_at
        after = (await c.get(f"/v1/tasks/{task['id']}")).json()
        assert after["reminders"][0]["state"] == "sent"
        # a later reminder of the same user firing proves time moved on without a repeat
        control = await create_with_reminder(c, 1.0, "control")
        cid = control["reminders"][0]["id"]

        async def control_fired() -> bool:
            return await due_events(stack, cid) == 1

        await eventually(control_fired, within=20, what="control reminder")
    assert await due_events(stack, rid) == 1


async def test_a_completed_tasks_reminder_never_fires(stack: Stack) -> None:
    async with stack.client("closed") as c:
        task = await create_with_reminder(c, 2.0)
        rid = task["reminders"][0]["id"]
        r = await c.post(f"/v1/tasks/{task['id']}/complete")
        assert r.status_code == 200
        control = await create_with_reminder(c, 3.0, "control")
        cid = control["reminders"][0]["id"]

        async def control_fired() -> bool:
            return await due_events(stack, cid) == 1

        await eventually(control_fired, within=20, what="control reminder")
    assert await due_events(stack, rid) == 0


async def test_a_snoozed_reminder_fires_later(stack: Stack) -> None:
    async with stack.client("snoozer") as c:
        task = await create_with_reminder(c, 1.0)
        rid = task["reminders"][0]["id"]

        def fired(n: int):
            async def check() -> bool:
                return await due_events(stack, rid) == n

            return check

        await eventually(fired(1), within=20, what="first fire")
        until = datetime.now(UTC) + timedelta(seconds=1.5)
        snoozed = await snooze_by_agent(stack, "snoozer", rid, until)
        assert snoozed["state"] == "pending"
        # an unrelated update keeps the snooze
        await c.patch(f"/v1/tasks/{task['id']}", json={"priority": "high"})
        await eventually(fired(2), within=20, what="snoozed fire")
        assert datetime.now(UTC) >= until
        after = (await c.get(f"/v1/tasks/{task['id']}")).json()
        assert datetime.fromisoformat(after["reminders"][0]["fire_at"]) == until


async def snooze_by_agent(stack: Stack, user: str, reminder_id: str, until: datetime) -> dict:
    """The one snooze path: the service's snooze, here through the MCP tool and the official
    client; the user's schedule actor learns of it from the event it records."""
    headers = {"Authorization": f"Bearer {issue_token(SECRET, user)}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{stack.base_url}/mcp", http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool(
            "snooze_reminder", {"reminder_id": reminder_id, "until": until.isoformat()}
        )
    assert not result.is_error, result.content
    return result.structured_content


async def armed(stack: Stack, user: str) -> bool:
    """Dapr's get-reminder API: the user's durable reminder exists."""
    url = (
        f"http://127.0.0.1:{stack.pair.http_port}"
        f"/v1.0/actors/ReminderScheduleActor/{user}/reminders/due"
    )
    async with httpx.AsyncClient(timeout=30, headers=stack.pair.sidecar_headers) as sidecar:
        return (await sidecar.get(url)).status_code == 200


async def test_a_reminder_due_while_the_sidecar_is_down_fires_once_after_restart(
    stack: Stack,
) -> None:
    async with stack.client("outage") as c:
        task = await create_with_reminder(c, 2.0)
        rid = task["reminders"][0]["id"]
        await eventually(lambda: armed(stack, "outage"), within=20, what="actor reminder armed")
    stack.pair.sidecar.kill()
    fire_at = datetime.fromisoformat(task["reminders"][0]["fire_at"])

    async def past_due() -> bool:
        return datetime.now(UTC) > fire_at + timedelta(seconds=1)

    await eventually(past_due, within=10, what="the fire time to pass")
    assert await due_events(stack, rid) == 0
    stack.pair.start_sidecar()
    stack.pair.wait_sidecar_ready()

    async def fired() -> bool:
        return await due_events(stack, rid) >= 1

    await eventually(fired, within=30, what="reminder after restart")
    async with stack.client("outage") as c:
        control = await create_with_reminder(c, 1.0, "control")

        async def control_fired() -> bool:
            return await due_events(stack, control["reminders"][0]["id"]) == 1

        await eventually(control_fired, within=20, what="control reminder")
    assert await due_events(stack, rid) == 1


async def test_a_reminder_survives_an_app_restart(stack: Stack) -> None:
    """The schedule actor comes back from its stored state in a fresh app process."""
    async with stack.client("restarted") as c:
        task = await create_with_reminder(c, 3.0)
        rid = task["reminders"][0]["id"]
        await eventually(lambda: armed(stack, "restarted"), within=20, what="reminder armed")
    stack.pair.app.kill()
    stack.restart_app()

    async def fired() -> bool:
        return await due_events(stack, rid) == 1

    await eventually(fired, within=30, what="reminder after the app restarted")
