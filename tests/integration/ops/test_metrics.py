"""The app's Prometheus metrics, scraped from their own port while the stack completes a
task of a series: HTTP requests by route template, the saga's start, end and duration,
the consumers' outcomes, and the gauges of what waits, which the health panel reads too.
No user or task id appears in any label. Then a real Prometheus (Debian's) scrapes the app
and runs every alert of the chart and every query of its Grafana dashboard."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import yaml
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from api.auth import issue_token
from devstack.processes import eventually, free_port
from devstack.stack import SECRET, Stack
from tests.integration.deploy import dashboard
from tests.integration.stack_fixture import stack_fixture

stack = stack_fixture("metrics", TICKLER_METRICS_SAMPLE_INTERVAL_S="0.2")
ALERTS = Path(__file__).resolve().parents[3] / "charts" / "tickler" / "files" / "alerts.yaml"


def scrape(stack: Stack) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"http://127.0.0.1:{stack.pair.metrics_port}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_a_completion_shows_in_the_metrics_without_ids(stack: Stack) -> None:
    async with stack.client("metered") as c:
        r = await c.post(
            "/v1/tasks",
            json={
                "title": "metered",
                "due_at": "2027-03-01T09:00:00Z",
                "recurrence": {"rrule": "FREQ=DAILY"},
            },
        )
        task = r.json()
        done = await c.post(f"/v1/tasks/{task['id']}/complete")
        assert done.status_code == 200, done.text
        nxt = done.json()["next"]["id"]
        # the API port serves no metrics
        assert (await c.get("/metrics")).status_code == 404

    async def consumed() -> bool:
        s = scrape(stack)
        handled = value(
            s, "tickler_events_consumed_total", consumer="audit_and_notify", outcome="handled"
        )
        caught_up = value(s, "tickler_consumer_lag_events", consumer="audit") == 0
        return handled >= 3 and caught_up and value(s, "tickler_outbox_backlog") == 0

    await eventually(consumed, what="the events to be handled, the backlog and lag to read 0")
    s = scrape(stack)
    route = "/v1/tasks/{task_id}/complete"
    assert value(s, "tickler_http_requests_total", route=route, method="POST", status="200") == 1
    assert value(s, "tickler_http_request_duration_seconds_count", route=route, method="POST") == 1
    assert value(s, "tickler_sagas_started_total", kind="complete") == 1
    assert value(s, "tickler_sagas_finished_total", kind="complete", outcome="completed") == 1
    assert (
        value(s, "tickler_saga_duration_seconds_count", kind="complete", outcome="completed") == 1
    )
    assert ("tickler_outbox_oldest_age_seconds", frozenset()) in s
    for consumer in ("audit", "notifier", "live"):
        assert ("tickler_consumer_lag_events", frozenset({("consumer", consumer)})) in s
    labels = " ".join(f"{k}={v}" for _, pairs in s for k, v in pairs)
    assert not any(secret in labels for secret in (task["id"], nxt, "metered"))


async def test_actor_calls_a_reminder_fire_and_mcp_tools_are_counted(stack: Stack) -> None:
    user = "metered-reminder"
    at = stack.clock.now() + timedelta(hours=1)
    async with stack.client(user) as c:
        r = await c.post("/v1/tasks", json={"title": "ping", "reminders": [{"at": at.isoformat()}]})
        assert r.status_code == 201, r.text
    before = scrape(stack)
    fires = value(before, "tickler_reminder_lateness_seconds_count")
    await stack.clock.advance(at - stack.clock.now() + timedelta(seconds=1))

    async def fired() -> bool:
        return value(scrape(stack), "tickler_reminder_lateness_seconds_count") == fires + 1

    await eventually(fired, within=30, what="the reminder's fire to be counted")
    headers = {"Authorization": f"Bearer {issue_token(SECRET, user)}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{stack.base_url}/mcp", http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.call_tool("list_tasks", {})
        assert not listed.is_error, listed.content
        refused = await session.call_tool("get_task", {"task_id": str(uuid.uuid4())})
        assert refused.is_error
    s = scrape(stack)
    assert value(s, "tickler_mcp_tool_calls_total", tool="list_tasks", outcome="ok") == 1
    assert value(s, "tickler_mcp_tool_calls_total", tool="get_task", outcome="error") == 1
    # the schedule actor was synced for the new task (the event consumer's SyncTasks)
    synced = value(
        s,
        "tickler_actor_calls_total",
        actor="ReminderScheduleActor",
        method="SyncTasks",
        outcome="ok",
    )
    assert synced >= 1
    assert (
        value(
            s,
            "tickler_actor_call_duration_seconds_count",
            actor="ReminderScheduleActor",
            method="SyncTasks",
        )
        == synced
    )


async def test_prometheus_scrapes_the_app_and_every_alert_expression_evaluates(
    stack: Stack, tmp_path: Path
) -> None:
    """Debian's prometheus against the app (after the tests above drove a completion, a
    reminder and MCP calls): the saga and HTTP series have data, every alert's expression
    runs through the query API, and as a loaded rule, without an error, and so does every
    target of the Grafana dashboard, whose request and saga panels show data."""
    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian's prometheus package: make test installs it"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(ALERTS)],
                "scrape_configs": [
                    {
                        "job_name": "tickler",
                        "static_configs": [{"targets": [f"127.0.0.1:{stack.pair.metrics_port}"]}],
                    }
                ],
            }
        )
    )
    log = (tmp_path / "prometheus.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        async with httpx.AsyncClient(base_url=api, timeout=10) as prom:

            async def query(expr: str) -> dict:
                r = await prom.get("/query", params={"query": expr})
                body = r.json()
                assert body["status"] == "success", (expr, body)
                return body["data"]

            async def ready() -> bool:
                try:
                    return (await prom.get(f"http://127.0.0.1:{port}/-/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            async def scraped() -> bool:
                found = await query('tickler_sagas_started_total{job="tickler"}')
                return bool(found["result"])

            await eventually(ready, within=30, what="prometheus to be ready")
            await eventually(scraped, within=30, what="prometheus to scrape the app")
            http = await query('sum(tickler_http_requests_total{job="tickler"})')
            assert float(http["result"][0]["value"][1]) > 0
            saga = await query("sum(tickler_saga_duration_seconds_count)")
            assert float(saga["result"][0]["value"][1]) >= 1

            groups = yaml.safe_load(ALERTS.read_text())["groups"]
            alerts = [r for g in groups for r in g["rules"]]
            for rule in alerts:
                await query(rule["expr"])

            board = dashboard.load()
            for panel in dashboard.panels(board):
                for target in panel["targets"]:
                    await query(dashboard.concrete(target["expr"]))
            # rate() over the panels' window needs a second scrape of the series it reads
            rows = dashboard.panels_by_row(board)
            must_show = [*rows["Requests"], *rows["Sagas"]]

            async def panels_show_data() -> bool:
                for panel in must_show:
                    results = [
                        (await query(dashboard.concrete(t["expr"])))["result"]
                        for t in panel["targets"]
                    ]
                    if not any(results):
                        return False
                return True

            await eventually(
                panels_show_data, within=30, what="every request and saga panel to show data"
            )

            async def evaluated() -> bool:
                body = (await prom.get("/rules")).json()
                loaded = [r for g in body["data"]["groups"] for r in g["rules"]]
                return len(loaded) == len(alerts) and all(r["health"] == "ok" for r in loaded)

            await eventually(evaluated, within=30, what="every rule loaded and evaluated ok")
            up = await query('up{job="tickler"}')
            assert up["result"][0]["value"][1] == "1"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        log.close()
