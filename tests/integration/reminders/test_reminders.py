"""Reminders end to end: the ReminderScheduleActor arms a durable actor reminder, and each
reminder goes out as one `reminder.due` event at its time, never twice, never for a closed
task, and not lost when the sidecar dies.

Time is the stack's clock (devstack.clock): a test sets reminders an hour ahead and moves the
app's and the dev sidecar's clock past them, instead of waiting. Against daprd, whose clock
no test can move, the lead is two seconds and `advance` waits it out."""

from __future__ import annotations

from datetime import datetime, timedelta

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


def lead(stack: Stack) -> timedelta:
    """How far ahead a test sets its reminders."""
    return timedelta(hours=1) if stack.clock.controllable else timedelta(seconds=2)


async def past(stack: Stack, instant: datetime) -> None:
    """Move the stack's clock a second past `instant`."""
    await stack.clock.advance(max(instant - stack.clock.now(), timedelta(0)) + timedelta(seconds=1))


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


async def create_with_reminder(stack: Stack, c, title: str = "remind me", ahead: int = 1) -> dict:
    """A task with one reminder `ahead` leads from now on the stack's clock."""
    at = stack.clock.now() + lead(stack) * ahead
    r = await c.post("/v1/tasks", json={"title": title, "reminders": [{"at": at.isoformat()}]})
    assert r.status_code == 201, r.text
    return r.json()


def fire_at(task: dict) -> datetime:
    return datetime.fromisoformat(task["reminders"][0]["fire_at"])


async def fired_once(stack: Stack, task: dict, what: str) -> None:
    rid = task["reminders"][0]["id"]

    async def once() -> bool:
        return await due_events(stack, rid) == 1

    await eventually(once, within=20, what=what)


async def test_a_reminder_fires_once_at_its_time(stack: Stack) -> None:
    async with stack.client("once") as c:
        task = await create_with_reminder(stack, c)
        rid = task["reminders"][0]["id"]
        await eventually(lambda: armed(stack, "once"), within=20, what="actor reminder armed")
        assert await due_events(stack, rid) == 0
        await past(stack, fire_at(task))
        await fired_once(stack, task, "reminder.due")
        assert stack.clock.now() >= fire_at(task)
        after = (await c.get(f"/v1/tasks/{task['id']}")).json()
        assert after["reminders"][0]["state"] == "sent"
        # a later reminder of the same user firing proves time moved on without a repeat
        control = await create_with_reminder(stack, c, "control")
        await past(stack, fire_at(control))
        await fired_once(stack, control, "control reminder")
    assert await due_events(stack, rid) == 1


async def test_a_completed_tasks_reminder_never_fires(stack: Stack) -> None:
    async with stack.client("closed") as c:
        task = await create_with_reminder(stack, c)
        rid = task["reminders"][0]["id"]
        r = await c.post(f"/v1/tasks/{task['id']}/complete")
        assert r.status_code == 200
        control = await create_with_reminder(stack, c, "control", ahead=2)
        await past(stack, fire_at(control))
        await fired_once(stack, control, "control reminder")
    assert await due_events(stack, rid) == 0


async def test_a_snoozed_reminder_fires_later(stack: Stack) -> None:
    async with stack.client("snoozer") as c:
        task = await create_with_reminder(stack, c)
        rid = task["reminders"][0]["id"]
        await past(stack, fire_at(task))
        await fired_once(stack, task, "first fire")
        until = stack.clock.now() + lead(stack)
        snoozed = await snooze_by_agent(stack, "snoozer", rid, until)
        assert snoozed["state"] == "pending"
        # an unrelated update keeps the snooze
        await c.patch(f"/v1/tasks/{task['id']}", json={"priority": "high"})
        await past(stack, until)

        async def fired_twice() -> bool:
            return await due_events(stack, rid) == 2

        await eventually(fired_twice, within=20, what="snoozed fire")
        assert stack.clock.now() >= until
        after = (await c.get(f"/v1/tasks/{task['id']}")).json()
        assert datetime.fromisoformat(after["reminders"][0]["fire_at"]) == until


async def test_a_paused_series_holds_its_reminders_and_spawns_nothing(stack: Stack) -> None:
    """Pause and resume go through the series' actor (the ops lookup reads its state back);
    the paused occurrence's reminder does not fire while a control reminder does, fires
    once after resume, and completing while paused spawns no next occurrence."""
    async with stack.client("pauser") as c:
        due = stack.clock.now() + lead(stack) * 2
        r = await c.post(
            "/v1/tasks",
            json={
                "title": "paused series",
                "due_at": due.isoformat(),
                "recurrence": {"rrule": "FREQ=DAILY"},
                "reminders": [{"before_minutes": 30 if stack.clock.controllable else 0}],
            },
        )
        assert r.status_code == 201, r.text
        task = r.json()
        series = f"/v1/series/{task['series_id']}"
        paused = await c.post(f"{series}/pause")
        assert paused.status_code == 200 and paused.json()["state"] == "paused"
        control = await create_with_reminder(stack, c, "control", ahead=3)
        await past(stack, fire_at(control))
        await fired_once(stack, control, "the control reminder")
        assert await due_events(stack, task["reminders"][0]["id"]) == 0
        resumed = await c.post(f"{series}/resume")
        assert resumed.json()["state"] == "active"
        await fired_once(stack, task, "the resumed series' reminder")
        await c.post(f"{series}/pause")
        done = await c.post(f"/v1/tasks/{task['id']}/complete")
        assert done.status_code == 200, done.text
        assert done.json()["next"] is None
        view = (await c.get(series)).json()
        assert view["state"] == "paused" and view["open_task_id"] is None
        respawned = (await c.post(f"{series}/resume")).json()
        assert respawned["state"] == "active" and respawned["open_task_id"] is not None
        assert respawned["open_task_id"] != task["id"]


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
        task = await create_with_reminder(stack, c)
        rid = task["reminders"][0]["id"]
        await eventually(lambda: armed(stack, "outage"), within=20, what="actor reminder armed")
    stack.pair.sidecar.kill()
    await past(stack, fire_at(task))
    assert await due_events(stack, rid) == 0
    stack.pair.start_sidecar()
    stack.pair.wait_sidecar_ready()

    async def fired() -> bool:
        return await due_events(stack, rid) >= 1

    await eventually(fired, within=30, what="reminder after restart")
    async with stack.client("outage") as c:
        control = await create_with_reminder(stack, c, "control")
        await past(stack, fire_at(control))
        await fired_once(stack, control, "control reminder")
    assert await due_events(stack, rid) == 1


async def test_a_reminder_survives_an_app_restart(stack: Stack) -> None:
    """The schedule actor comes back from its stored state in a fresh app process."""
    async with stack.client("restarted") as c:
        task = await create_with_reminder(stack, c)
        await eventually(lambda: armed(stack, "restarted"), within=20, what="reminder armed")
    stack.pair.app.kill()
    stack.restart_app()
    await past(stack, fire_at(task))
    await fired_once(stack, task, "reminder after the app restarted")
