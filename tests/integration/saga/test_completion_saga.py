"""Complete-then-spawn through HTTP, the dev sidecar, the saga and the series actor."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta

import asyncpg
import httpx
from dapr.ext.workflow.aio import DaprWorkflowClient

from api.auth import OPERATOR, issue_token
from devstack.processes import eventually
from devstack.stack import SECRET, Stack
from store.database import plain_url
from tests.integration.faults import clear, refuse_next_occurrences, refuse_pending_runs
from tests.integration.stack_fixture import stack_fixture

stack = stack_fixture("saga")


async def create(client, **body) -> dict:
    body.setdefault("title", "series")
    r = await client.post("/v1/tasks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def complete(client, task_id: str, **headers) -> dict:
    r = await client.post(f"/v1/tasks/{task_id}/complete", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_completing_a_series_follows_the_rule_across_dst(stack: Stack) -> None:
    async with stack.client("chain") as c:
        task = await create(
            c,
            due_at="2027-03-12T09:00:00",
            timezone="America/New_York",
            recurrence={"rrule": "FREQ=DAILY;COUNT=4", "catch_up": "every_occurrence"},
        )
        dues = [task["due_at"]]
        current = task
        while True:
            result = await complete(c, current["id"])
            assert result["task"]["status"] == "completed"
            if result["next"] is None:
                break
            current = result["next"]
            dues.append(current["due_at"])
    assert dues == [
        "2027-03-12T09:00:00-05:00",
        "2027-03-13T09:00:00-05:00",
        "2027-03-14T09:00:00-04:00",
        "2027-03-15T09:00:00-04:00",
    ]


async def test_after_completion_mode_restarts_from_the_completion(stack: Stack) -> None:
    async with stack.client("every-bang") as c:
        task = await create(
            c,
            due_at="2026-01-05T08:30:00Z",
            recurrence={"rrule": "FREQ=DAILY;INTERVAL=3", "mode": "after_completion"},
        )
        result = await complete(c, task["id"])
    completed = datetime.fromisoformat(result["task"]["completed_at"])
    expected = (completed + timedelta(days=3)).replace(hour=8, minute=30, second=0, microsecond=0)
    assert datetime.fromisoformat(result["next"]["due_at"]) == expected


async def test_until_ends_the_series(stack: Stack) -> None:
    async with stack.client("until") as c:
        task = await create(
            c,
            due_at="2027-05-01T10:00:00Z",
            recurrence={"rrule": "FREQ=WEEKLY;UNTIL=20270509T000000Z"},
        )
        first = await complete(c, task["id"])
        assert first["next"]["due_at"] == "2027-05-08T10:00:00Z"
        last = await complete(c, first["next"]["id"])
        assert last["next"] is None
        again = await complete(c, first["next"]["id"])
        assert again["next"] is None and again["task"]["status"] == "completed"


async def test_twenty_concurrent_completions_spawn_exactly_one_next(stack: Stack) -> None:
    async with stack.client("race") as c:
        task = await create(c, due_at="2027-02-01T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
        results = await asyncio.gather(
            *(c.post(f"/v1/tasks/{task['id']}/complete") for _ in range(20))
        )
        assert {r.status_code for r in results} == {200}
        assert len({r.json()["next"]["id"] for r in results}) == 1
        page = (await c.get("/v1/tasks", params={"recurring": "true", "limit": 200})).json()
    in_series = [t for t in page["items"] if t["series_id"] == task["series_id"]]
    assert sorted(t["occurrence_index"] for t in in_series) == [0, 1]


async def test_idempotency_key_replays_the_saga_result(stack: Stack) -> None:
    async with stack.client("idem") as c:
        task = await create(c, due_at="2027-02-01T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
        first = await complete(c, task["id"], **{"Idempotency-Key": "saga-1"})
        second = await complete(c, task["id"], **{"Idempotency-Key": "saga-1"})
    assert first == second


async def test_skip_runs_the_same_saga(stack: Stack) -> None:
    async with stack.client("skipper") as c:
        task = await create(c, due_at="2027-02-01T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
        r = await c.post(f"/v1/tasks/{task['id']}/skip")
        assert r.status_code == 200, r.text
        assert r.json()["task"]["status"] == "skipped"
        assert r.json()["next"]["due_at"] == "2027-02-02T09:00:00Z"
        conflict = await c.post(f"/v1/tasks/{task['id']}/complete")
        assert conflict.status_code == 409


async def test_failed_next_occurrence_reopens_and_reports(stack: Stack) -> None:
    """Compensation: the next occurrence cannot be created (a trigger refuses it), so the
    completed occurrence reopens, task.completion_failed is recorded and the instance stays
    failed and visible."""
    conn = await asyncpg.connect(plain_url(stack.database_url))
    try:
        await refuse_next_occurrences(conn, "refuse_poison", "poison", "refused by test trigger")
        async with stack.client("comp", timeout=60) as c:
            task = await create(
                c,
                title="poison",
                due_at="2027-02-01T09:00:00Z",
                recurrence={"rrule": "FREQ=DAILY"},
                reminders=[{"before_minutes": 10}],
            )
            r = await c.post(f"/v1/tasks/{task['id']}/complete")
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            after = (await c.get(f"/v1/tasks/{task['id']}")).json()
            assert after["status"] == "open" and after["completed_at"] is None
            assert [x["state"] for x in after["reminders"]] == ["pending"]
            op = (await c.get(f"/v1/operations/complete-{task['id']}")).json()
            assert op["status"] == "FAILED"
        failed = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'task.completion_failed' AND user_id = 'comp'"
        )
        assert failed == 1
    finally:
        await clear(conn, "refuse_poison")
        await conn.close()


async def test_a_reopened_occurrence_completes_again_with_one_next_occurrence(
    stack: Stack,
) -> None:
    """A failed attempt reopens the occurrence (compensation) and its instance stays, failed.
    Completing again is a new attempt with an instance of its own, `complete-<id>-2`, and
    the failed attempt's history stays to be read: the app looks an attempt up before it
    schedules one, since daprd would schedule over a finished instance and reset its history
    (workflows/sagas.py). Concurrent requests for the new attempt join it, and the series
    gets exactly one next occurrence."""
    conn = await asyncpg.connect(plain_url(stack.database_url))
    try:
        await refuse_next_occurrences(
            conn, "refuse_first_try", "first try fails", "refused by test trigger"
        )
        async with stack.client("again", timeout=60) as c:
            task = await create(
                c,
                title="first try fails",
                due_at="2027-02-01T09:00:00Z",
                recurrence={"rrule": "FREQ=DAILY"},
            )
            failed = await c.post(f"/v1/tasks/{task['id']}/complete")
            assert failed.status_code == 503, failed.text
            assert (await c.get(f"/v1/tasks/{task['id']}")).json()["status"] == "open"
            await clear(conn, "refuse_first_try")

            results = await asyncio.gather(
                *(c.post(f"/v1/tasks/{task['id']}/complete") for _ in range(5))
            )
            assert {r.status_code for r in results} == {200}, [r.text for r in results]
            assert len({r.json()["next"]["id"] for r in results}) == 1
            first = (await c.get(f"/v1/operations/complete-{task['id']}")).json()
            second = (await c.get(f"/v1/operations/complete-{task['id']}-2")).json()
            assert (first["status"], second["status"]) == ("FAILED", "COMPLETED")
            none = await c.get(f"/v1/operations/complete-{task['id']}-3")
            assert none.json()["status"] == "UNKNOWN"
            page = (await c.get("/v1/tasks", params={"recurring": "true", "limit": 200})).json()
        async with stack.client("someone-else") as other:
            theirs = await other.get(f"/v1/operations/complete-{task['id']}-2")
            assert theirs.status_code == 404, theirs.text
            assert (await other.get("/v1/ops/sagas")).status_code == 403
        await runs_show_both_attempts(stack, task, results[0].json()["next"]["id"])
    finally:
        await clear(conn, "refuse_first_try")
        await conn.close()
    in_series = [t for t in page["items"] if t["series_id"] == task["series_id"]]
    assert sorted((t["occurrence_index"], t["status"]) for t in in_series) == [
        (0, "completed"),
        (1, "open"),
    ]


def operator(stack: Stack) -> httpx.AsyncClient:
    token = issue_token(SECRET, "an-operator", roles=[OPERATOR])
    return httpx.AsyncClient(
        base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


async def test_an_operator_retries_a_failed_saga_once_its_fault_is_cleared(
    stack: Stack,
) -> None:
    """The fault is a trigger that refuses the next occurrence until it is dropped. The
    retry is a new attempt that keeps the lineage, and the series gets one next occurrence."""
    conn = await asyncpg.connect(plain_url(stack.database_url))
    try:
        await refuse_next_occurrences(
            conn, "refuse_until_cleared", "ops retry", "refused until the flag is cleared"
        )
        async with stack.client("retried", timeout=60) as c, operator(stack) as ops:
            task = await create(
                c,
                title="ops retry",
                due_at="2027-02-01T09:00:00Z",
                recurrence={"rrule": "FREQ=DAILY"},
            )
            assert (await c.post(f"/v1/tasks/{task['id']}/complete")).status_code == 503
            first = f"complete-{task['id']}"
            assert (await ops.get(f"/v1/ops/sagas/{first}")).json()["run"]["status"] == "failed"
            refused = await ops.post(f"/v1/ops/sagas/{first}/retry", json={})
            assert refused.status_code == 422  # no reason
            unknown = await ops.post(f"/v1/ops/sagas/{first}/retry", json={"reason": "x", "y": 1})
            assert unknown.status_code == 422
            assert (
                await c.post(f"/v1/ops/sagas/{first}/retry", json={"reason": "x"})
            ).status_code == 403
            await clear(conn, "refuse_until_cleared")

            r = await ops.post(f"/v1/ops/sagas/{first}/retry", json={"reason": "flag cleared"})
            assert r.status_code == 200, r.text
            assert r.json()["retried_as"] == f"{first}-2"

            async def completed() -> bool:
                run = (await ops.get(f"/v1/ops/sagas/{first}-2")).json()["run"]
                return run["status"] == "completed"

            await eventually(completed, within=30, what="the retried attempt to complete")
            again = await ops.post(f"/v1/ops/sagas/{first}/retry", json={"reason": "twice"})
            assert again.status_code == 409, again.text
            log = (await ops.get("/v1/ops/actions", params={"target": first})).json()
            [entry] = log["items"]
            assert (entry["operator"], entry["action"], entry["reason"]) == (
                "an-operator",
                "retry",
                "flag cleared",
            )
            page = (await c.get("/v1/tasks", params={"recurring": "true", "limit": 200})).json()
    finally:
        await clear(conn, "refuse_until_cleared")
        await conn.close()
    in_series = [t for t in page["items"] if t["series_id"] == task["series_id"]]
    assert sorted((t["occurrence_index"], t["status"]) for t in in_series) == [
        (0, "completed"),
        (1, "open"),
    ]


async def runs_show_both_attempts(stack: Stack, task: dict, next_id: str) -> None:
    """The operators' read model, written by the starter and the steps: the failed attempt
    with its step and message, and the retry that recorded the next occurrence."""
    async with operator(stack) as ops:
        page = (await ops.get("/v1/ops/sagas", params={"task_id": task["id"]})).json()
        runs = sorted(page["items"], key=lambda r: r["attempt"])
        assert [(r["attempt"], r["status"]) for r in runs] == [(1, "failed"), (2, "completed")]
        first, second = runs
        assert (first["failure_step"], first["kind"]) == ("advance", "complete")
        assert "refused by test trigger" in first["failure_message"]
        assert second["retry_of"] == first["instance_id"] == f"complete-{task['id']}"
        assert (second["next_task_id"], second["series_id"]) == (next_id, task["series_id"])
        assert page["counts"]["failed"] == 1 and page["counts"]["completed"] == 1
        failed = (
            await ops.get("/v1/ops/sagas", params={"status": "failed", "failure": "TEST TRIGGER"})
        ).json()
        assert first["instance_id"] in {r["instance_id"] for r in failed["items"]}
        detail = (await ops.get(f"/v1/ops/sagas/{second['instance_id']}")).json()
        assert [r["attempt"] for r in detail["lineage"]] == [1, 2]
        recorded = {(e["type"], e["task_id"]) for e in detail["events"]}
        assert ("task.completed", task["id"]) in recorded
        assert ("task.created", next_id) in recorded
        url = f"/v1/ops/sagas/{second['instance_id']}"

        async def audited() -> bool:  # the audit consumer writes its entries as events arrive
            actions = {a["action"] for a in (await ops.get(url)).json()["audit"]}
            return {"task.completed", "task.completion_failed"} <= actions

        await eventually(audited, within=20, what="the occurrence's audit entries")

        done = (await ops.get(f"/v1/ops/sagas/{second['instance_id']}/history")).json()
        assert task["id"] in done["input"] and next_id in done["output"]
        assert [(s["name"], s["outcome"]) for s in done["steps"]] == [
            ("advance_occurrence", "completed")
        ]
        failed = (await ops.get(f"/v1/ops/sagas/{first['instance_id']}/history")).json()
        steps = [(s["name"], s["outcome"]) for s in failed["steps"]]
        assert steps[0] == ("advance_occurrence", "failed") and len(steps) == 6, steps
        assert steps[-1] == ("reopen_occurrence", "completed")
        assert [s["attempt"] for s in failed["steps"][:5]] == [1, 2, 3, 4, 5]


async def test_app_killed_mid_saga_finishes_with_one_next_occurrence(stack: Stack) -> None:
    """SIGKILL the app while the saga's first step is blocked on a row lock; after a restart
    the saga completes and the series has exactly one next occurrence."""
    async with stack.client("crash") as c:
        task = await create(c, due_at="2027-02-01T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
    blocker = await asyncpg.connect(plain_url(stack.database_url))
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", uuid.UUID(task["id"]))
    wf = DaprWorkflowClient(host="127.0.0.1", port=str(stack.pair.grpc_port))
    instance = f"complete-{task['id']}"
    async with stack.client("crash", timeout=30) as c:
        pending = asyncio.create_task(c.post(f"/v1/tasks/{task['id']}/complete"))

        async def started() -> bool:
            return await wf.get_workflow_state(instance, fetch_payloads=False) is not None

        await eventually(started, what="saga instance to start")
        await asyncio.to_thread(stack.pair.app.kill)
        await tx.rollback()
        await blocker.close()
        with contextlib.suppress(httpx.HTTPError):  # the connection died with the app
            await pending
        await asyncio.to_thread(stack.restart_app)
        try:
            state = await wf.wait_for_workflow_completion(instance, timeout_in_seconds=60)
        except TimeoutError as exc:
            raise AssertionError(
                f"saga did not finish after the restart\nSIDECAR:\n"
                f"{stack.pair.sidecar.log()[-4000:]}\nAPP:\n{stack.pair.app.log()[-4000:]}"
            ) from exc
        assert state is not None and state.runtime_status.name == "COMPLETED"
        page = (await c.get("/v1/tasks", params={"recurring": "true", "limit": 200})).json()
    in_series = [t for t in page["items"] if t["series_id"] == task["series_id"]]
    assert sorted((t["occurrence_index"], t["status"]) for t in in_series) == [
        (0, "completed"),
        (1, "open"),
    ]
    # the read model: its writes share the step's transactions, so the run killed mid-step
    # ends as the runtime says, with the one next occurrence
    nxt = next(t["id"] for t in in_series if t["occurrence_index"] == 1)
    async with operator(stack) as ops:

        async def settled() -> bool:
            run = (await ops.get(f"/v1/ops/sagas/{instance}")).json()["run"]
            return (run["status"], run["next_task_id"], run["attempt"]) == ("completed", nxt, 1)

        await eventually(settled, what="the run to read completed, with the next occurrence")


async def test_a_run_whose_starter_did_not_record_it_is_written_by_its_step(
    stack: Stack,
) -> None:
    """The starter writes the pending run after scheduling; when that write is lost (the app
    died in between, or the database refused it), the completion still succeeds and the
    step's own transaction writes the run."""
    async with stack.client("lost-start") as c:
        task = await create(c, due_at="2027-02-01T09:00:00Z", recurrence={"rrule": "FREQ=DAILY"})
        conn = await asyncpg.connect(plain_url(stack.database_url))
        try:
            await refuse_pending_runs(conn, "refuse_pending_runs", task["id"])
            done = await complete(c, task["id"])
        finally:
            await clear(conn, "refuse_pending_runs", table="saga_runs")
            await conn.close()
    async with operator(stack) as ops:
        run = (await ops.get(f"/v1/ops/sagas/complete-{task['id']}")).json()["run"]
    assert (run["status"], run["next_task_id"]) == ("completed", done["next"]["id"])
