"""The operators' dashboard (/ops) on the whole stack: the session and its CSRF token over
plain HTTP, then an operator's round in real headless Chromium (Debian's `chromium`, driven
by Playwright through `executable_path`): log in, find the failed saga, read its failed step
in the timeline, clear the fault, retry, and watch the new attempt turn completed without
reloading. Screenshots of each page go to the test's output folder, and one on failure."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from api.auth import OPERATOR, issue_token
from devstack.processes import eventually
from devstack.stack import SECRET, Stack
from store.database import plain_url
from tests.integration.events.scenarios import (
    create,
    dead_lettered,
    put_on_dead_letters,
    unhandled_event,
)
from tests.integration.faults import clear, refuse_next_occurrences
from tests.integration.stack_fixture import stack_fixture

# the read model's reconcile looks at runs quiet for a second, twice a second
stack = stack_fixture(
    "ops_dashboard", TICKLER_SAGA_RUN_QUIET_S="1", TICKLER_SAGA_RUN_RECONCILE_INTERVAL_S="0.5"
)
CHROMIUM = shutil.which("chromium")
AXE = Path(__file__).parents[2] / "vendor" / "axe-4.14.1.min.js"
FLAG = "refuse_flagged"


def operator_token() -> str:
    return issue_token(SECRET, "olga", roles=[OPERATOR])


async def failed_saga(stack: Stack, user: str) -> dict:
    """A series occurrence whose completion fails (the trigger refuses its next one)."""
    async with stack.client(user, timeout=60) as c:
        r = await c.post(
            "/v1/tasks",
            json={
                "title": "flagged",
                "due_at": "2027-02-01T09:00:00Z",
                "recurrence": {"rrule": "FREQ=DAILY"},
            },
        )
        assert r.status_code == 201, r.text
        task = r.json()
        assert (await c.post(f"/v1/tasks/{task['id']}/complete")).status_code == 503
    return task


@pytest.fixture
async def flag(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(plain_url(stack.database_url))
    await refuse_next_occurrences(conn, FLAG, "flagged", "refused while the flag is set")
    try:
        yield conn
    finally:
        await clear(conn, FLAG)
        await conn.close()


async def test_pages_need_an_operators_session_and_forms_their_csrf_token(
    stack: Stack, flag: asyncpg.Connection
) -> None:
    task = await failed_saga(stack, "csrf-user")
    instance = f"complete-{task['id']}"
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as browser:
        anonymous = await browser.get("/ops/sagas")
        assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/ops/login")
        user = await browser.post("/ops/login", data={"token": issue_token(SECRET, "csrf-user")})
        assert user.status_code == 403 and "Operators only" in user.text
        bad = await browser.post("/ops/login", data={"token": "not-a-token"})
        assert bad.status_code == 401

        logged_in = await browser.post("/ops/login", data={"token": operator_token()})
        assert logged_in.status_code == 303
        cookie = logged_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ops" in cookie
        listing = await browser.get("/ops/sagas", params={"status": "failed"})
        assert listing.status_code == 200 and instance in listing.text
        assert "flagged" not in listing.text  # no task titles on the list
        assert listing.headers["content-security-policy"].startswith("default-src 'self'")
        page = await browser.get(f"/ops/sagas/{instance}")
        assert "flagged" in page.text  # the title shows on the saga's own page

        forged = await browser.post(
            f"/ops/sagas/{instance}/retry", data={"reason": "forged", "csrf": "0" * 64}
        )
        assert forged.status_code == 403
        log = await httpx.AsyncClient(
            base_url=stack.base_url,
            headers={"Authorization": f"Bearer {operator_token()}"},
            timeout=30,
        ).get("/v1/ops/actions", params={"target": instance})
        assert log.json()["items"] == []  # the forged form did nothing
    async with stack.client("csrf-user") as c:
        assert (await c.get("/v1/ops/sagas")).status_code == 403


async def test_a_bulk_retry_with_its_dry_run_retries_each_failed_saga_once(
    stack: Stack, flag: asyncpg.Connection
) -> None:
    user = f"bulk-{uuid.uuid4().hex[:6]}"
    tasks = [await failed_saga(stack, user) for _ in range(3)]
    await clear(flag, FLAG)
    request = {"action": "retry", "filter": {"status": ["failed"], "user": user}, "reason": "ok"}
    headers = {"Authorization": f"Bearer {operator_token()}", "Idempotency-Key": "bulk-1"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers, timeout=30) as ops:
        dry = (await ops.post("/v1/ops/bulk-actions/dry-run", json=request)).json()
        assert dry["count"] == 3
        assert {r["task_id"] for r in dry["sample"]} == {t["id"] for t in tasks}
        stale = await ops.post("/v1/ops/bulk-actions", json={**request, "count": 2})
        assert stale.status_code == 409, stale.text
        started = await ops.post(
            "/v1/ops/bulk-actions", json={**request, "count": 3}, headers={"Idempotency-Key": "b2"}
        )
        assert started.status_code == 202, started.text
        bulk = started.json()

        async def done() -> bool:
            progress = (await ops.get(f"/v1/ops/bulk-actions/{bulk['id']}")).json()
            return progress["state"] == "done"

        await eventually(done, within=60, what="the bulk retry to finish")
        again = await ops.post(
            "/v1/ops/bulk-actions", json={**request, "count": 3}, headers={"Idempotency-Key": "b2"}
        )
        assert again.json()["id"] == bulk["id"]  # the same key: the same bulk action
        progress = (await ops.get(f"/v1/ops/bulk-actions/{bulk['id']}")).json()
        assert (progress["done"], progress["skipped"], progress["failed"]) == (3, 0, 0)

        async def all_completed() -> bool:
            page = (await ops.get("/v1/ops/sagas", params={"user": user})).json()
            return page["counts"]["completed"] == 3

        await eventually(all_completed, within=60, what="the retried attempts to complete")
    async with stack.client(user) as c:
        listed = (await c.get("/v1/tasks", params={"recurring": "true"})).json()["items"]
    for task in tasks:
        mine = [t for t in listed if t["series_id"] == task["series_id"]]
        assert sorted((t["occurrence_index"], t["status"]) for t in mine) == [
            (0, "completed"),
            (1, "open"),
        ]


async def test_a_lost_read_model_write_is_settled_from_the_runtime(
    stack: Stack, flag: asyncpg.Connection
) -> None:
    """As if the app died between a step and its read-model write: the run says running,
    the runtime says failed; the reconcile settles it from get_workflow_state."""
    task = await failed_saga(stack, f"lost-{uuid.uuid4().hex[:6]}")
    instance = f"complete-{task['id']}"
    await flag.execute(
        "UPDATE saga_runs SET status = 'running', finished_at = NULL, failure_message = NULL, "
        "updated_at = now() - interval '1 minute' WHERE instance_id = $1",
        instance,
    )
    headers = {"Authorization": f"Bearer {operator_token()}"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers, timeout=30) as ops:

        async def settled() -> bool:
            run = (await ops.get(f"/v1/ops/sagas/{instance}")).json()["run"]
            return run["status"] == "failed" and bool(run["failure_message"])

        await eventually(settled, within=20, what="the reconcile to settle the run")


async def test_health_and_the_actors_schedules_for_operators(stack: Stack) -> None:
    user = f"sched-{uuid.uuid4().hex[:6]}"
    async with stack.client(user) as c:
        r = await c.post(
            "/v1/tasks",
            json={
                "title": "weekly",
                "due_at": "2030-02-01T09:00:00Z",
                "recurrence": {"rrule": "FREQ=WEEKLY;BYDAY=MO"},
                "reminders": [{"before_minutes": 30}],
            },
        )
        assert r.status_code == 201, r.text
        task = r.json()
        assert (await c.get("/v1/ops/health")).status_code == 403
        assert (await c.get(f"/v1/ops/schedules/{user}")).status_code == 403
    headers = {"Authorization": f"Bearer {operator_token()}"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers, timeout=30) as ops:
        health = (await ops.get("/v1/ops/health")).json()
        assert health["sidecar_reachable"] is True
        assert len(health["sagas"]) == 60
        assert health["outbox"]["backlog"] >= 0
        series = await ops.get(f"/v1/ops/series/{task['series_id']}")
        assert series.status_code == 200, series.text
        assert series.json()["rrule"] == "FREQ=WEEKLY;BYDAY=MO"
        assert (await ops.get(f"/v1/ops/series/{uuid.uuid4()}")).status_code == 404

        async def scheduled() -> bool:
            schedule = (await ops.get(f"/v1/ops/schedules/{user}")).json()
            return [p["reminder_id"] for p in schedule["pending"]] == [
                task["reminders"][0]["id"]
            ] and schedule["armed_at"] is not None

        await eventually(scheduled, within=20, what="the user's schedule to hold the reminder")


async def any_row(stack: Stack, sql: str, *args: object) -> bool:
    conn = await asyncpg.connect(plain_url(stack.database_url))
    try:
        return await conn.fetchval(sql, *args) >= 1
    finally:
        await conn.close()


async def shot(page: Page, out: Path, name: str) -> None:
    """A screenshot of the page, and axe-core's audit of it: no serious or critical
    violation of WCAG 2.1 A/AA."""
    await page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"
    )
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"


async def test_an_operator_retries_a_failed_saga_in_the_browser(
    stack: Stack, flag: asyncpg.Connection, tmp_path: Path
) -> None:
    if CHROMIUM is None:
        pytest.fail("browser tests need Debian's chromium: apt-get install -y chromium")
    user = f"browser-{uuid.uuid4().hex[:6]}"
    task = await failed_saga(stack, user)
    others = [await failed_saga(stack, user) for _ in range(2)]  # for the bulk retry
    instance = f"complete-{task['id']}"
    out = tmp_path / "screenshots"
    out.mkdir()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        # the pages' CSP allows only the app's own scripts: let the test inject axe-core
        context = await browser.new_context(bypass_csp=True)
        page = await context.new_page()
        try:
            await page.goto(f"{stack.base_url}/ops/login")
            await shot(page, out, "login")
            # from the keyboard: skip link, nav links, then the token field and the button
            await page.keyboard.press("Tab")
            await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
            await page.get_by_label("Token").focus()
            await page.keyboard.type(operator_token())
            await page.keyboard.press("Tab")
            await expect(page.get_by_role("button", name="Log in")).to_be_focused()
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("heading", name="Sagas")).to_be_visible()

            await page.get_by_label("Status", exact=True).select_option("failed")
            await page.get_by_label("User", exact=True).fill(user)
            await page.get_by_role("button", name="Filter").click()
            row = page.locator(f'tr[data-instance="{instance}"]')
            await expect(row.locator('[data-field="status"]')).to_have_text("failed")
            await shot(page, out, "sagas-failed")

            await row.get_by_role("link", name=instance).click()
            timeline = page.locator("table.timeline")
            await expect(timeline.locator("tr.failed").first).to_contain_text(
                "refused while the flag is set"
            )
            await shot(page, out, "saga-failed")

            await clear(flag, FLAG)  # clear the fault
            await page.get_by_label("Reason to retry").fill("flag cleared")
            await page.get_by_role("button", name="Retry").click()
            await expect(page.get_by_role("heading", name=f"Saga {instance}-2")).to_be_visible()
            status = page.locator(f'[data-instance="{instance}-2"] [data-field="status"]')
            await expect(status).to_have_text("completed", timeout=30_000)  # live, no reload
            await shot(page, out, "saga-retried")

            # the other two, in bulk: the dry run names the count, the confirmation runs it
            await page.get_by_role("link", name="Sagas", exact=True).click()
            await page.get_by_label("Status", exact=True).select_option("failed")
            await page.get_by_label("User", exact=True).fill(user)
            await page.get_by_role("button", name="Filter").click()
            await page.get_by_label("Action").select_option("retry")
            await page.get_by_label("Reason", exact=True).fill("flag cleared for all")
            await page.get_by_role("button", name="Dry run").click()
            await expect(page.locator('[data-count="bulk"]')).to_have_text("2")
            await shot(page, out, "bulk-dry-run")
            await page.get_by_role("button", name="Retry 2 sagas").click()
            await expect(page.locator('[data-field="state"]')).to_have_text("done", timeout=30_000)
            await expect(page.locator('[data-field="done"]')).to_have_text("2")
            await shot(page, out, "bulk-progress")
            await page.get_by_role("link", name="Operator log").click()
            await expect(page.get_by_role("cell", name="flag cleared", exact=True)).to_be_visible()
            await shot(page, out, "operator-log")
            await page.get_by_role("link", name="Health").click()
            await expect(page.get_by_role("heading", name="Health", exact=True)).to_be_visible()
            await shot(page, out, "health")
            await page.get_by_role("link", name="Schedules").click()
            await page.get_by_label("User").fill(user)
            await page.get_by_role("button", name="Look up").click()
            await expect(page.get_by_role("heading", name=f"Reminders of {user}")).to_be_visible()
            await shot(page, out, "schedules")
            # a dead letter, redriven from its page, reaches its consumers once
            async with stack.client(user) as c:
                event = unhandled_event(await create(c, title="lost event"), user)
            await put_on_dead_letters(stack, dead_lettered(event))
            await eventually(
                lambda: any_row(stack, "SELECT count(*) FROM dead_letters WHERE event_id = $1",
                                str(event.event_id)),
                what="the dead letter kept",
            )  # fmt: skip
            await page.get_by_role("link", name="Dead letters").click()
            letter = page.locator("tr[data-dead-letter]", has_text=str(event.event_id))
            await expect(letter).to_be_visible()
            await shot(page, out, "dead-letters")
            await letter.get_by_role("button", name="Redrive").click()
            await expect(letter).to_have_count(0)  # no longer kept
            await page.get_by_label("State").select_option("redriven")
            await page.get_by_role("button", name="Filter").click()
            await expect(letter).to_contain_text("redriven by olga")

            # the dead letters page in bulk: a dry run names the count, then it is done
            async with stack.client(user) as c:
                other = unhandled_event(await create(c, title="another lost event"), user)
            await put_on_dead_letters(stack, dead_lettered(other))
            await eventually(
                lambda: any_row(stack, "SELECT count(*) FROM dead_letters WHERE event_id = $1",
                                str(other.event_id)),
                what="the second dead letter kept",
            )  # fmt: skip
            await page.get_by_label("State").select_option("kept")
            await page.get_by_role("button", name="Filter").click()
            await page.get_by_label("Settle").select_option("discard")
            await page.get_by_role("button", name="Dry run").click()
            await expect(page.locator('[data-count="bulk"]')).to_have_text("1")
            await shot(page, out, "dead-letters-bulk")
            await page.get_by_role("button", name="Discard 1 dead letters").click()
            await expect(page.get_by_role("status")).to_contain_text("discard: 1 done")
        except Exception:
            await shot(page, out, "failure")
            raise
        finally:
            await browser.close()
    async with stack.client(user) as c:
        listed = (await c.get("/v1/tasks", params={"recurring": "true"})).json()["items"]
    audit = "SELECT count(*) FROM audit_log WHERE event_id = $1"
    await eventually(lambda: any_row(stack, audit, event.event_id), what="the redriven event")
    assert await flag.fetchval(audit, event.event_id) == 1
    for closed in (task, *others):
        mine = [t for t in listed if t["series_id"] == closed["series_id"]]
        assert sorted((t["occurrence_index"], t["status"]) for t in mine) == [
            (0, "completed"),
            (1, "open"),
        ]
    assert {p.name for p in out.iterdir()} >= {
        "bulk-dry-run.png",
        "bulk-progress.png",
        "login.png",
        "sagas-failed.png",
        "saga-failed.png",
        "saga-retried.png",
        "operator-log.png",
        "health.png",
        "schedules.png",
        "dead-letters.png",
        "dead-letters-bulk.png",
    }
