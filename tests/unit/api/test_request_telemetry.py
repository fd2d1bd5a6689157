"""api.request_telemetry on a small app: route templates, never paths; unmatched paths share one
label; the status a middleware's refusal sends is the one counted."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from api.request_telemetry import UNMATCHED, RequestTelemetry
from telemetry.metrics import HTTP_DURATION, HTTP_REQUESTS, REGISTRY


def count(route: str, method: str, status: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "tickler_http_requests_total", {"route": route, "method": method, "status": status}
        )
        or 0.0
    )


def app() -> FastAPI:
    a = FastAPI()

    @a.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict:
        return {"id": thing_id}

    a.add_middleware(RequestTelemetry)
    return a


async def test_requests_are_counted_by_template_and_status() -> None:
    before = count("/v1/things/{thing_id}", "GET", "200")
    missing_before = count(UNMATCHED, "GET", "404")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app()), base_url="http://t"
    ) as c:
        for thing in ("a1", "b2", "c3"):
            assert (await c.get(f"/v1/things/{thing}")).status_code == 200
        assert (await c.get("/wp-login.php")).status_code == 404
    assert count("/v1/things/{thing_id}", "GET", "200") == before + 3
    assert count(UNMATCHED, "GET", "404") == missing_before + 1
    labels = {
        s.labels.get("route")
        for metric in (HTTP_REQUESTS, HTTP_DURATION)
        for family in metric.collect()
        for s in family.samples
    }
    assert not any(thing in str(labels) for thing in ("a1", "b2", "c3", "wp-login"))
    assert (
        REGISTRY.get_sample_value(
            "tickler_http_request_duration_seconds_count",
            {"route": "/v1/things/{thing_id}", "method": "GET"},
        )
        >= 3
    )


async def test_a_request_id_is_echoed_when_plain_and_replaced_when_not(caplog) -> None:
    caplog.set_level("INFO", logger="tickler.access")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app()), base_url="http://t"
    ) as c:
        mine = await c.get("/v1/things/a1", headers={"X-Request-ID": "agent-42.call:7"})
        forged = await c.get("/v1/things/a1", headers={"X-Request-ID": "x\" {injected}"})
        none = await c.get("/v1/things/a1")
    assert mine.headers["x-request-id"] == "agent-42.call:7"
    assert forged.headers["x-request-id"] != "x\" {injected}"
    assert len(forged.headers["x-request-id"]) == 32
    assert len(none.headers["x-request-id"]) == 32
    access = [r for r in caplog.records if r.name == "tickler.access"]
    assert [r.http["route"] for r in access] == ["/v1/things/{thing_id}"] * 3
    assert access[0].http["status"] == 200 and access[0].http["path"] == "/v1/things/a1"


async def test_a_request_is_a_server_span_under_the_callers_traceparent(monkeypatch) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from telemetry import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "TRACER", provider.get_tracer("test"))
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app()), base_url="http://t"
    ) as c:
        await c.get("/v1/things/a1", headers={"traceparent": parent})
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /v1/things/{thing_id}" and span.kind == SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == parent.split("-")[1]
    assert format(span.parent.span_id, "016x") == parent.split("-")[2]
    assert span.attributes["http.response.status_code"] == 200
