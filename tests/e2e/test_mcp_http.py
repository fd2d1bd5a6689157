"""An agent's session through the official `mcp` client over Streamable HTTP at /mcp.

The app runs in-process (httpx2's ASGI transport, the client the SDK itself uses) against a
real, migrated PostgreSQL, with the clock frozen so due times and "overdue" are exact. The
session scenarios take their clock as an argument: test_mcp_stdio.py replays them over stdio.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from api.auth import issue_token
from api.main import create_app
from api.settings import Settings
from store.database import migrate
from tests.clocks import FrozenClock
from tests.e2e.conftest import running

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # a Monday
SECRET = "test-secret-for-the-mcp-suite-only-32+bytes"

READ_ONLY = {
    "get_task",
    "list_tasks",
    "search_tasks",
    "preview_recurrence",
    "list_upcoming_reminders",
    "explain_reminder",
    "get_overdue_tasks",
    "get_upcoming_tasks",
    "list_tags",
    "describe_series",
}
MUTATING = {
    "add_task",
    "update_task",
    "complete_task",
    "skip_occurrence",
    "delete_task",
    "set_reminders",
    "snooze_reminder",
    "rename_tag",
    "delete_tag",
    "control_series",
    "skip_series_date",
}
DESTRUCTIVE = {
    "update_task",
    "delete_task",
    "set_reminders",
    "rename_tag",
    "delete_tag",
    "control_series",
}
SAME_WHEN_REPEATED = {"control_series", "skip_series_date"}
WITH_DRY_RUN = {"delete_task", "rename_tag", "delete_tag"}

Connect = Callable[[str], AbstractAsyncContextManager[ClientSession]]


# -- the client side -----------------------------------------------------------------------------


class Agent:
    """A connected MCP client session with assertion helpers."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def ok(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.session.call_tool(tool, arguments)
        assert isinstance(result, CallToolResult)
        assert not result.is_error, f"{tool}: {_text(result)}"
        assert _text(result), f"{tool} returned no text summary"
        assert result.structured_content is not None
        return result.structured_content

    async def fails(self, tool: str, *expected: str, **arguments: Any) -> str:
        result = await self.session.call_tool(tool, arguments)
        assert isinstance(result, CallToolResult)
        text = _text(result)
        assert result.is_error, f"{tool} should have failed, got {text}"
        assert "Traceback" not in text and 'File "' not in text
        for part in expected:
            assert part in text, f"{part!r} not in {text!r}"
        return text


def _text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


# -- scenarios (shared with the stdio suite) -----------------------------------------------------


async def check_tool_list(agent: Agent) -> None:
    tools = {t.name: t for t in (await agent.session.list_tools()).tools}
    assert set(tools) == READ_ONLY | MUTATING
    for name, tool in tools.items():
        schema = tool.input_schema
        assert schema.get("additionalProperties") is False, name
        assert tool.output_schema and tool.output_schema["type"] == "object", name
        assert tool.description and len(tool.description) > 20, name
        notes = tool.annotations
        assert notes is not None and notes.read_only_hint is (name in READ_ONLY), name
        props = schema.get("properties", {})
        if name in MUTATING:
            assert notes.destructive_hint is (name in DESTRUCTIVE), name
            # a key for every change, but those that are the same however often they run
            assert ("idempotency_key" in props) is (name not in SAME_WHEN_REPEATED), name
            assert notes.idempotent_hint or name not in SAME_WHEN_REPEATED, name
        assert ("dry_run" in props) is (name in WITH_DRY_RUN), name
        assert "$ref" not in str(schema) and "$ref" not in str(tool.output_schema), name
    add = tools["add_task"].input_schema
    assert add["required"] == ["title"]
    assert add["properties"]["priority"]["enum"] == ["low", "medium", "high", "urgent"]
    assert add["properties"]["due_at"]["examples"]
    assert add["properties"]["recurrence"]["properties"]["mode"]["enum"] == [
        "schedule",
        "after_completion",
    ]
    scope = tools["delete_task"].input_schema["properties"]["scope"]
    assert scope["enum"] == ["occurrence", "series"] and scope["default"] == "occurrence"
    sort = tools["list_tasks"].input_schema["properties"]["sort"]
    assert sort["enum"][:2] == ["due_at", "-due_at"] and sort["type"] == ["string", "null"]


async def recurring_task_lifecycle(agent: Agent, now: datetime) -> None:
    """Add a weekly task with a reminder, change its title only, complete it, skip the next."""
    monday = (now + timedelta(days=7 - now.weekday())).replace(
        hour=9, minute=0, second=0, microsecond=0, tzinfo=None
    )
    task = await agent.ok(
        "add_task",
        title="Water the plants",
        priority="high",
        tags=["home"],
        due_at=monday.isoformat(),
        timezone="Europe/London",
        recurrence={"rrule": "FREQ=WEEKLY;BYDAY=MO"},
        reminders=[{"before_minutes": 30}],
    )
    assert task["recurrence"]["rrule"] == "FREQ=WEEKLY;BYDAY=MO"
    assert task["due_at"].startswith(monday.date().isoformat())
    assert await agent.ok("get_task", task_id=task["id"]) == task

    renamed = await agent.ok("update_task", task_id=task["id"], title="Water all the plants")
    assert renamed["title"] == "Water all the plants"
    assert renamed["recurrence"] == task["recurrence"], "update must keep the recurrence"
    assert [r["before_minutes"] for r in renamed["reminders"]] == [30]
    assert renamed["tags"] == ["home"] and renamed["priority"] == "high"
    assert renamed["version"] == task["version"] + 1

    await agent.fails(
        "update_task",
        "version conflict",
        "get_task",
        task_id=task["id"],
        description="x",
        expected_version=task["version"],
    )
    await agent.fails("update_task", "nothing to change", task_id=task["id"])
    await agent.fails(
        "update_task", "clear", "both set and cleared",
        task_id=task["id"], due_at=monday.isoformat(), clear=["due_at"],
    )  # fmt: skip

    done = await agent.ok("complete_task", task_id=task["id"])
    assert done["task"]["status"] == "completed"
    nxt = done["next"]
    assert nxt["due_at"].startswith((monday + timedelta(days=7)).date().isoformat())
    assert nxt["recurrence"]["rrule"] == "FREQ=WEEKLY;BYDAY=MO"
    assert nxt["title"] == "Water all the plants"
    assert await agent.ok("complete_task", task_id=task["id"]) == done  # completing twice

    skipped = await agent.ok("skip_occurrence", task_id=nxt["id"])
    assert skipped["task"]["status"] == "skipped"
    assert skipped["next"]["due_at"].startswith((monday + timedelta(days=14)).date().isoformat())
    await agent.fails("skip_occurrence", "conflict", "already completed", task_id=task["id"])

    cleared = await agent.ok("update_task", task_id=skipped["next"]["id"], clear=["recurrence"])
    assert cleared["recurrence"] is None and cleared["due_at"] == skipped["next"]["due_at"]


async def strict_arguments(agent: Agent) -> None:
    """Unknown, misspelt and out-of-range arguments are refused with the allowed values."""
    text = await agent.fails(
        "add_task", "recurrance: unknown argument", "allowed:", "recurrence",
        title="Typo", recurrance={"rrule": "FREQ=DAILY"},
    )  # fmt: skip
    assert "pydantic" not in text
    allowed = "'low', 'medium', 'high' or 'urgent'"
    await agent.fails("add_task", "priority", allowed, title="x", priority="critical")
    await agent.fails("add_task", "title", title="")
    await agent.fails("add_task", "title", "Field required")
    await agent.fails(
        "add_task", "recurrence.interval", "unknown argument",
        title="x", due_at="2027-02-01T09:00:00", recurrence={"rrule": "FREQ=DAILY", "interval": 2},
    )  # fmt: skip
    await agent.fails(
        "add_task", "recurrence", "FREQ", title="x", due_at="2027-02-01T09:00:00",
        recurrence={"rrule": "EVERY DAY"},
    )  # fmt: skip
    await agent.fails("add_task", "timezone", "Mars/Olympus", title="x", timezone="Mars/Olympus")
    await agent.fails("get_task", "task_id", task_id="not-a-uuid")
    await agent.fails("list_tasks", "sort", "'due_at'", sort="soonest")
    await agent.fails("list_tasks", "limit", limit=500)
    await agent.fails("list_tasks", "cursor", cursor="garbage")
    await agent.fails("list_tasks", "status", "'open'", status="done")
    await agent.fails("search_tasks", "query", query="")
    await agent.fails("get_upcoming_tasks", "days", days=0)
    await agent.fails("get_overdue_tasks", "limit", limit=0)
    await agent.fails("list_upcoming_reminders", "within_hours", within_hours=-1)
    await agent.fails("list_tags", "unknown argument", verbose=True)
    await agent.fails("delete_task", "scope", "'occurrence' or 'series'",
                      task_id=str(uuid.uuid4()), scope="everything")  # fmt: skip
    await agent.fails("complete_task", "idempotency_key", task_id=str(uuid.uuid4()),
                      idempotency_key="")  # fmt: skip
    await agent.fails("set_reminders", "reminders", task_id=str(uuid.uuid4()))
    await agent.fails("snooze_reminder", "reminder_id", reminder_id="nope", minutes=5)
    await agent.fails("explain_reminder", "reminder_id", reminder_id=12)
    await agent.fails("rename_tag", "new_name", "Field required", name="home")
    await agent.fails("delete_tag", "name", name="")
    await agent.fails("preview_recurrence", "count", rule="FREQ=DAILY", count=1000)


async def not_found_everywhere(agent: Agent) -> None:
    missing = str(uuid.uuid4())
    for tool, args in [
        ("get_task", {"task_id": missing}),
        ("update_task", {"task_id": missing, "title": "x"}),
        ("complete_task", {"task_id": missing}),
        ("skip_occurrence", {"task_id": missing}),
        ("delete_task", {"task_id": missing}),
        ("set_reminders", {"task_id": missing, "reminders": []}),
        ("snooze_reminder", {"reminder_id": missing, "minutes": 10}),
        ("explain_reminder", {"reminder_id": missing}),
        ("rename_tag", {"name": "no-such-tag", "new_name": "x"}),
        ("delete_tag", {"name": "no-such-tag"}),
    ]:
        await agent.fails(tool, "not found", "list_", **args)


async def listing_and_search(agent: Agent, now: datetime) -> None:
    day = timedelta(days=1)
    base = now.replace(microsecond=0)
    made = {}
    for title, priority, tags, due in [
        ("Renew passport", "urgent", ["admin"], base - 2 * day),
        ("Call the dentist", "high", ["health", "admin"], base - day),
        ("Book flights to Lisbon", "medium", ["travel"], base + day),
        ("Read the annual review draft", "low", ["work"], base + 3 * day),
        ("Plan the annual review", "high", ["work"], base + 30 * day),
    ]:
        task = await agent.ok(
            "add_task", title=title, priority=priority, tags=tags, due_at=due.isoformat()
        )
        made[title] = task["id"]

    admin = await agent.ok("list_tasks", tag=["admin"], status="open")
    assert [t["title"] for t in admin["items"]] == ["Renew passport", "Call the dentist"]
    urgent = await agent.ok("list_tasks", priority=["urgent", "high"], sort="-priority", limit=1)
    assert urgent["items"][0]["title"] == "Renew passport" and urgent["next_cursor"]
    rest = await agent.ok(
        "list_tasks", priority=["urgent", "high"], sort="-priority", cursor=urgent["next_cursor"]
    )
    assert {t["priority"] for t in rest["items"]} == {"high"}
    assert made["Renew passport"] not in {t["id"] for t in rest["items"]}
    window = await agent.ok(
        "list_tasks",
        due_after=(base - day).isoformat(),
        due_before=(base + 2 * day).isoformat(),
        recurring=False,
        sort="due_at",
    )
    assert [t["title"] for t in window["items"]] == ["Call the dentist", "Book flights to Lisbon"]

    found = await agent.ok("search_tasks", query="annual review")
    assert {t["title"] for t in found["items"]} == {
        "Read the annual review draft",
        "Plan the annual review",
    }
    excluded = await agent.ok("search_tasks", query='"annual review" -draft')
    assert [t["title"] for t in excluded["items"]] == ["Plan the annual review"]

    overdue = await agent.ok("get_overdue_tasks")
    assert [t["title"] for t in overdue["items"]][:2] == ["Renew passport", "Call the dentist"]
    assert all(t["due_at"] < now.isoformat() for t in overdue["items"])
    upcoming = await agent.ok("get_upcoming_tasks", days=7)
    titles = [t["title"] for t in upcoming["items"]]
    assert "Book flights to Lisbon" in titles and "Read the annual review draft" in titles
    assert "Plan the annual review" not in titles and "Renew passport" not in titles


async def idempotent_retries_and_dry_runs(agent: Agent) -> None:
    key = f"add-{uuid.uuid4()}"
    first = await agent.ok("add_task", title="Retry-safe task", tags=["retry"], idempotency_key=key)
    again = await agent.ok("add_task", title="Retry-safe task", tags=["retry"], idempotency_key=key)
    assert again == first
    await agent.fails("add_task", "conflict", "idempotency key", title="Other", idempotency_key=key)
    listed = await agent.ok("list_tasks", tag=["retry"])
    assert [t["id"] for t in listed["items"]] == [first["id"]]

    ukey = f"upd-{uuid.uuid4()}"
    change = {"task_id": first["id"], "priority": "low", "idempotency_key": ukey}
    updated = await agent.ok("update_task", **change)
    replay = await agent.ok("update_task", **change)
    assert replay == updated
    assert (await agent.ok("get_task", task_id=first["id"]))["version"] == updated["version"]

    preview = await agent.ok("delete_task", task_id=first["id"], dry_run=True)
    assert preview == {"deleted": [first["id"]], "scope": "occurrence", "dry_run": True}
    await agent.ok("get_task", task_id=first["id"])  # still there

    dkey = f"del-{uuid.uuid4()}"
    gone = await agent.ok("delete_task", task_id=first["id"], idempotency_key=dkey)
    assert gone["deleted"] == [first["id"]] and gone["dry_run"] is False
    assert await agent.ok("delete_task", task_id=first["id"], idempotency_key=dkey) == gone
    await agent.fails("get_task", "not found", task_id=first["id"])


async def series_deletion(agent: Agent, now: datetime) -> None:
    due = (now + timedelta(days=1)).replace(microsecond=0, tzinfo=None)
    task = await agent.ok(
        "add_task",
        title="Daily standup",
        due_at=due.isoformat(),
        recurrence={"rrule": "FREQ=DAILY"},
    )
    nxt = (await agent.ok("complete_task", task_id=task["id"]))["next"]
    preview = await agent.ok("delete_task", task_id=nxt["id"], scope="series", dry_run=True)
    assert set(preview["deleted"]) == {task["id"], nxt["id"]}
    await agent.ok("get_task", task_id=nxt["id"])
    gone = await agent.ok("delete_task", task_id=nxt["id"], scope="series")
    assert set(gone["deleted"]) == {task["id"], nxt["id"]}
    await agent.fails("get_task", "not found", task_id=task["id"])


async def recurrence_previews(agent: Agent) -> None:
    weekdays = await agent.ok(
        "preview_recurrence",
        rule="every weekday at 9am",
        timezone="Europe/London",
        start="2027-01-09T08:00:00",
        count=3,
    )
    assert weekdays["rrule"] == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    assert weekdays["parsed_from"] == "phrase"
    assert weekdays["summary"] == "Every weekday at 9:00 AM"
    assert weekdays["occurrences"] == [
        "2027-01-09T09:00:00Z",
        "2027-01-11T09:00:00Z",
        "2027-01-12T09:00:00Z",
    ]  # RFC 5545: a DTSTART off the pattern (a Saturday) is still the first; the warning says so
    assert any("does not match" in w for w in weekdays["warnings"])
    from_today = await agent.ok("preview_recurrence", rule="every weekday at 9am", count=1)
    assert from_today["start"] == from_today["occurrences"][0] and from_today["warnings"] == []

    last_friday = await agent.ok(
        "preview_recurrence",
        rule="last Friday of each month",
        start="2027-01-29T17:00:00",
        count=2,
    )
    assert last_friday["rrule"] == "FREQ=MONTHLY;BYDAY=-1FR"
    assert last_friday["occurrences"] == ["2027-01-29T17:00:00Z", "2027-02-26T17:00:00Z"]

    fortnightly = await agent.ok(
        "preview_recurrence",
        rule="every 2 weeks on Mon and Thu until June",
        start="2027-01-04T10:00:00",
        count=100,
    )
    assert fortnightly["rrule"].startswith("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=2027")
    assert fortnightly["occurrences"][-1] < "2027-07-01"

    gap = await agent.ok(
        "preview_recurrence",
        rule="FREQ=DAILY",
        timezone="Europe/London",
        start="2027-03-28T01:30:00",
        count=2,
    )
    assert gap["occurrences"][0] == "2027-03-28T02:30:00+01:00"
    assert any("does not exist on 2027-03-28" in w for w in gap["warnings"])

    the_31st = await agent.ok(
        "preview_recurrence", rule="RRULE:FREQ=MONTHLY;BYMONTHDAY=31", start="2027-01-31T09:00"
    )
    assert the_31st["rrule"] == "FREQ=MONTHLY;BYMONTHDAY=31"
    assert "2027-02" not in " ".join(the_31st["occurrences"])
    assert any("BYMONTHDAY=-1" in w for w in the_31st["warnings"])

    ended = await agent.ok(
        "preview_recurrence", rule="FREQ=DAILY;UNTIL=20260101", start="2027-01-01T09:00:00"
    )
    assert len(ended["occurrences"]) == 1
    assert any("before DTSTART" in w for w in ended["warnings"])

    await agent.fails(
        "preview_recurrence", "rule:", "FREQ=", "every weekday at 9am",
        rule="whenever the moon is full",
    )  # fmt: skip
    await agent.fails("preview_recurrence", "rule:", rule="FREQ=FORTNIGHTLY")
    await agent.fails("preview_recurrence", "timezone", rule="daily", timezone="Nowhere/Land")


async def reminders(agent: Agent, now: datetime) -> None:
    due = (now + timedelta(days=2)).replace(microsecond=0)
    task = await agent.ok("add_task", title="Pay rent", due_at=due.isoformat())
    with_reminders = await agent.ok(
        "set_reminders",
        task_id=task["id"],
        reminders=[{"before_minutes": 60}, {"before_minutes": 24 * 60}],
    )
    fire_times = sorted(r["fire_at"] for r in with_reminders["reminders"])
    assert len(fire_times) == 2
    await agent.fails(
        "set_reminders", "reminders.0", "exactly one of before_minutes or at",
        task_id=task["id"], reminders=[{"before_minutes": 5, "at": due.isoformat()}],
    )  # fmt: skip

    upcoming = await agent.ok("list_upcoming_reminders", within_hours=72)
    mine = [i for i in upcoming["items"] if i["task_id"] == task["id"]]
    assert sorted(i["reminder"]["fire_at"] for i in mine) == fire_times

    day_before = next(r for r in with_reminders["reminders"] if r["before_minutes"] == 24 * 60)
    why = await agent.ok("explain_reminder", reminder_id=day_before["id"])
    assert why["offset_minutes"] == 24 * 60 and why["timezone"] == "UTC"
    assert why["state"] == "pending" and why["why"]

    key = f"snooze-{uuid.uuid4()}"
    snoozed = await agent.ok(
        "snooze_reminder", reminder_id=day_before["id"], minutes=90, idempotency_key=key
    )
    assert snoozed["state"] == "pending"
    replay = await agent.ok(
        "snooze_reminder", reminder_id=day_before["id"], minutes=90, idempotency_key=key
    )
    assert replay == snoozed
    await agent.fails(
        "snooze_reminder", "minutes", "exactly one of minutes or until",
        reminder_id=day_before["id"], minutes=5, until=due.isoformat(),
    )  # fmt: skip
    await agent.fails(
        "snooze_reminder", "until", "future",
        reminder_id=day_before["id"], until=(now - timedelta(days=1)).isoformat(),
    )  # fmt: skip

    kept = await agent.ok("update_task", task_id=task["id"], description="from the agent")
    assert {r["id"] for r in kept["reminders"]} == {r["id"] for r in with_reminders["reminders"]}


async def tags(agent: Agent) -> None:
    a = await agent.ok("add_task", title="Tag me 1", tags=["errand"])
    b = await agent.ok("add_task", title="Tag me 2", tags=["errands", "shop"])
    listed = {t["name"]: t["count"] for t in (await agent.ok("list_tags"))["items"]}
    assert listed["errand"] == 1 and listed["errands"] == 1

    dry = await agent.ok("rename_tag", name="errand", new_name="errands", dry_run=True)
    assert dry == {"name": "errands", "count": 2, "merged": True, "dry_run": True}
    assert (await agent.ok("get_task", task_id=a["id"]))["tags"] == ["errand"]

    key = f"merge-{uuid.uuid4()}"
    merged = await agent.ok("rename_tag", name="errand", new_name="errands", idempotency_key=key)
    assert merged == {"name": "errands", "count": 2, "merged": True, "dry_run": False}
    assert await agent.ok("rename_tag", name="errand", new_name="errands", idempotency_key=key) == (
        merged
    )
    assert (await agent.ok("get_task", task_id=a["id"]))["tags"] == ["errands"]

    dry_delete = await agent.ok("delete_tag", name="shop", dry_run=True)
    assert dry_delete == {"name": "shop", "untagged_task_ids": [b["id"]], "dry_run": True}
    assert "shop" in (await agent.ok("get_task", task_id=b["id"]))["tags"]
    deleted = await agent.ok("delete_tag", name="shop")
    assert deleted["untagged_task_ids"] == [b["id"]] and deleted["dry_run"] is False
    assert (await agent.ok("get_task", task_id=b["id"]))["tags"] == ["errands"]
    assert "shop" not in {t["name"] for t in (await agent.ok("list_tags"))["items"]}


async def isolation(alice: Agent, bob: Agent) -> None:
    """Neither user sees, changes or even detects the other's tasks."""
    secret = await alice.ok("add_task", title="Alice's secret plan", tags=["alice-only"])
    reminder_task = await alice.ok(
        "add_task",
        title="Alice's reminder",
        due_at="2030-01-01T09:00:00",
        reminders=[{"before_minutes": 5}],
    )
    reminder_id = reminder_task["reminders"][0]["id"]
    mine = await bob.ok("add_task", title="Bob's own task")

    for tool, args in [
        ("get_task", {"task_id": secret["id"]}),
        ("update_task", {"task_id": secret["id"], "title": "hijacked"}),
        ("complete_task", {"task_id": secret["id"]}),
        ("skip_occurrence", {"task_id": secret["id"]}),
        ("delete_task", {"task_id": secret["id"], "dry_run": True}),
        ("set_reminders", {"task_id": secret["id"], "reminders": []}),
        ("snooze_reminder", {"reminder_id": reminder_id, "minutes": 5}),
        ("explain_reminder", {"reminder_id": reminder_id}),
        ("rename_tag", {"name": "alice-only", "new_name": "mine"}),
        ("delete_tag", {"name": "alice-only"}),
    ]:
        await bob.fails(tool, "not found", **args)

    bob_ids = {t["id"] for t in (await bob.ok("list_tasks", limit=200))["items"]}
    assert secret["id"] not in bob_ids and mine["id"] in bob_ids
    assert (await bob.ok("search_tasks", query="secret plan"))["items"] == []
    assert "alice-only" not in {t["name"] for t in (await bob.ok("list_tags"))["items"]}
    bob_reminders = (await bob.ok("list_upcoming_reminders"))["items"]
    assert reminder_id not in {i["reminder"]["id"] for i in bob_reminders}
    await alice.fails("get_task", "not found", task_id=mine["id"])
    assert (await alice.ok("get_task", task_id=secret["id"]))["title"] == "Alice's secret plan"


# -- the HTTP transport --------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def app_and_clock(make_database) -> AsyncIterator[tuple[Any, FrozenClock]]:
    url = await make_database("mcp")
    await asyncio.to_thread(migrate, url)
    clock = FrozenClock(NOW)
    app = create_app(Settings(env="test", database_url=url, jwt_secret=SECRET), clock)
    async with running(app):
        yield app, clock


@pytest.fixture
def connect(app_and_clock) -> Connect:
    app, _ = app_and_clock

    @asynccontextmanager
    async def session(user: str) -> AsyncIterator[ClientSession]:
        headers = {"Authorization": f"Bearer {issue_token(SECRET, user)}"}
        async with (
            httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=app), base_url="http://tickler", headers=headers
            ) as http,
            streamable_http_client("http://tickler/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            yield client

    return session


@asynccontextmanager
async def agent(connect: Connect, user: str) -> AsyncIterator[Agent]:
    async with connect(user) as session:
        yield Agent(session)


async def test_the_tool_list_is_typed_strict_and_annotated(connect: Connect) -> None:
    async with agent(connect, "alice") as alice:
        await check_tool_list(alice)


async def test_a_recurring_task_keeps_its_rule_through_updates_and_completions(connect) -> None:
    async with agent(connect, "alice") as alice:
        await recurring_task_lifecycle(alice, NOW)


async def test_bad_arguments_are_tool_errors_that_name_the_field_and_allowed_values(
    connect,
) -> None:
    async with agent(connect, "alice") as alice:
        await strict_arguments(alice)


async def test_unknown_ids_are_not_found_with_a_hint(connect) -> None:
    async with agent(connect, "alice") as alice:
        await not_found_everywhere(alice)


async def test_list_tasks_has_every_filter_sort_and_page_of_the_http_api(connect) -> None:
    async with agent(connect, "lister") as lister:
        await listing_and_search(lister, NOW)


async def test_retries_with_an_idempotency_key_change_nothing_and_dry_runs_change_nothing(
    connect,
) -> None:
    async with agent(connect, "alice") as alice:
        await idempotent_retries_and_dry_runs(alice)
        await series_deletion(alice, NOW)


async def test_preview_recurrence_reads_phrases_and_rrules_and_warns(connect) -> None:
    async with agent(connect, "alice") as alice:
        await recurrence_previews(alice)


async def test_reminders_can_be_set_listed_explained_and_snoozed(connect) -> None:
    async with agent(connect, "alice") as alice:
        await reminders(alice, NOW)


async def test_tags_rename_merge_and_delete_with_dry_runs(connect) -> None:
    async with agent(connect, "tagger") as tagger:
        await tags(tagger)


async def test_two_tokens_never_see_each_others_tasks(connect) -> None:
    async with agent(connect, "alice") as alice, agent(connect, "bob") as bob:
        await isolation(alice, bob)


async def test_the_user_comes_from_the_token_not_from_arguments(connect) -> None:
    async with agent(connect, "bob") as bob:
        await bob.fails("list_tasks", "user_id: unknown argument", user_id="alice")
        await bob.fails("add_task", "user_id: unknown argument", title="x", user_id="alice")


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "missing Authorization header"),
        ("Basic YWxpY2U6eA==", "Bearer"),
        ("Bearer not-a-jwt", "Not enough segments"),
        (f"Bearer {issue_token('another-secret', 'alice')}", "Signature verification failed"),
    ],
)
async def test_a_missing_or_bad_token_gets_401_with_www_authenticate(
    app_and_clock, authorization: str | None, detail: str
) -> None:
    app, _ = app_and_clock
    headers = {"Accept": "application/json, text/event-stream"}
    if authorization:
        headers["Authorization"] = authorization
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://tickler"
    ) as http:
        response = await http.post("/mcp", json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


async def test_an_agent_may_say_when_in_words(connect: Connect) -> None:
    async with connect("phrasing-agent") as session:
        agent = Agent(session)
        task = await agent.ok("add_task", title="dentist", due_at="Friday at noon")
        assert task["due_at"].startswith("2027-01-08T12:00")  # NOW is Monday 2027-01-04
        await agent.fails("add_task", "due_at", "tomorrow 5pm", title="x", due_at="someday")


async def test_lists_are_brief_unless_asked_in_full(connect: Connect) -> None:
    brief = {"id", "title", "status", "due_at", "timezone", "priority", "tags", "series_id"}
    async with connect("brief-agent") as session:
        agent = Agent(session)
        await agent.ok("add_task", title="brief one", description="long text", tags=["x"])
        for tool, args in [("list_tasks", {}), ("search_tasks", {"query": "brief"})]:
            listed = await agent.ok(tool, **args)
            assert [set(t) for t in listed["items"]] == [brief], tool
            full = await agent.ok(tool, detail="full", **args)
            (task,) = full["items"]
            assert task["description"] == "long text" and "reminders" in task, tool
        await agent.fails("list_tasks", "detail", detail="everything")
