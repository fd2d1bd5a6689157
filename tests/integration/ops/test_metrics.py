"""The app's Prometheus metrics, scraped from their own port while the stack completes a
task of a series: HTTP requests by route template, the saga's start, end and duration,
the consumers' outcomes, and the gauges of what waits, which the health panel reads too.
No user or task id appears in any label."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import eventually
from devstack.stack import Stack
from tests.integration.stack_fixture import stack_fixture

stack = stack_fixture("metrics", TICKLER_METRICS_SAMPLE_INTERVAL_S="0.2")


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
        return handled >= 3 and value(s, "tickler_consumer_lag_events", consumer="audit") == 0

    await eventually(consumed, what="the consumers to handle the events and the lag to read 0")
    s = scrape(stack)
    route = "/v1/tasks/{task_id}/complete"
    assert value(s, "tickler_http_requests_total", route=route, method="POST", status="200") == 1
    assert value(s, "tickler_http_request_duration_seconds_count", route=route, method="POST") == 1
    assert value(s, "tickler_sagas_started_total", kind="complete") == 1
    assert value(s, "tickler_sagas_finished_total", kind="complete", outcome="completed") == 1
    assert (
        value(s, "tickler_saga_duration_seconds_count", kind="complete", outcome="completed") == 1
    )
    assert value(s, "tickler_outbox_backlog") == 0
    for consumer in ("audit", "notifier", "live"):
        assert ("tickler_consumer_lag_events", frozenset({("consumer", consumer)})) in s
    labels = " ".join(f"{k}={v}" for _, pairs in s for k, v in pairs)
    assert not any(secret in labels for secret in (task["id"], nxt, "metered"))
