"""telemetry.tracing: no provider without an endpoint; W3C context in and out; a batch of
events from several traces gets one span in each."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from telemetry import tracing

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_without_an_endpoint_nothing_is_installed() -> None:
    assert tracing.configure({}) is None
    assert tracing.configure({"OTEL_SERVICE_NAME": "x"}) is None


def test_a_remote_parent_is_carried_on_and_a_bad_one_starts_afresh() -> None:
    with tracing.span_from("step", PARENT):
        sent = tracing.current_traceparent()
    # without an SDK provider the span is the API's, which still carries the context on
    assert sent is not None and sent.split("-")[1] == TRACE
    with tracing.span_from("step", "not-a-traceparent"):
        assert tracing.current_traceparent() is None
    assert tracing.current_traceparent() is None
    carrier: dict[str, str] = {}
    tracing.inject(carrier)
    assert carrier == {}


def recorded() -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def test_a_batch_gets_a_span_in_each_of_its_traces(monkeypatch) -> None:
    tracer, exporter = recorded()
    monkeypatch.setattr(tracing, "TRACER", tracer)
    with tracing.spans_from("consume audit", [PARENT, OTHER, None]):
        pass
    spans = exporter.get_finished_spans()
    traces = {format(s.context.trace_id, "032x") for s in spans}
    assert len(spans) == 3
    assert {TRACE, OTHER.split("-")[1]} < traces  # and a fresh one for the event without
    assert all(s.kind == trace.SpanKind.CONSUMER for s in spans)


def test_a_batch_of_one_runs_in_its_span(monkeypatch) -> None:
    tracer, _ = recorded()
    monkeypatch.setattr(tracing, "TRACER", tracer)
    with tracing.spans_from("consume live", [PARENT]):
        inner = tracing.current_traceparent()
    assert inner is not None and inner.split("-")[1] == TRACE
    assert inner.split("-")[2] != PARENT.split("-")[2]  # a span of its own, under it
