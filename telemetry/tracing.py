"""Traces: OpenTelemetry spans, exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set,
and W3C trace context carried across every hop a completion takes.

The hops and their carriers:
- HTTP into the app (requests, and the sidecar's actor, reminder and event callbacks): the
  `traceparent` header (api/tracing_middleware.py);
- the app to the sidecar: `traceparent` on actor calls (actors/dapr_http.py) and as gRPC
  metadata on workflow scheduling (workflows/reconnect.py);
- the sidecar to the workflow worker: each work item's `parentTraceContext`;
- the outbox: the context of the transaction that wrote the event (its `trace_parent`
  column), which the relay puts into the CloudEvent's `traceparent` and `traceid`, and which
  the consumers take back out of it.
So one completion is one trace, from the HTTP request through the saga's steps to every
consumer of the events it wrote.

Without an endpoint no SDK provider is installed: spans are the API's non-recording ones,
which still carry an incoming context onwards, at the cost of a context switch per span.
The SDK reads the rest of the standard OTEL_* variables itself (service name, resource
attributes, sampler, protocol, headers).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

W3C = TraceContextTextMapPropagator()
TRACER = trace.get_tracer("tickler")
DEFAULT_SERVICE_NAME = "tickler"


def configure(environ: Mapping[str, str] = os.environ) -> Callable[[], None] | None:
    """Installs the SDK's provider with an OTLP exporter when the environment names an
    endpoint; returns what flushes and stops it (at shutdown), or None when it does not."""
    if not environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and not environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        return None
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": DEFAULT_SERVICE_NAME}).merge(
        OTELResourceDetector().detect()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
    )
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(_exporter(environ)))
    trace.set_tracer_provider(provider)
    return provider.shutdown


def _exporter(environ: Mapping[str, str]):
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:  # the specification's default, http/protobuf
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()


def inject(carrier: MutableMapping[str, str]) -> None:
    """Adds `traceparent` (and `tracestate`) for the current span, if there is one."""
    W3C.inject(carrier)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    W3C.inject(carrier)
    return carrier.get("traceparent")


def extracted(traceparent: str | None, tracestate: str | None = None) -> context.Context:
    """The context a remote `traceparent` names (an empty one for None or a malformed one)."""
    carrier = {"traceparent": traceparent or ""}
    if tracestate:
        carrier["tracestate"] = tracestate
    return W3C.extract(carrier)


@contextmanager
def span_from(
    name: str,
    traceparent: str | None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span]:
    """A current span whose parent is the remote `traceparent` (a new trace without one)."""
    with TRACER.start_as_current_span(
        name, context=extracted(traceparent), kind=kind, attributes=attributes
    ) as span:
        yield span


@contextmanager
def spans_from(
    name: str, traceparents: Sequence[str | None], *, kind: SpanKind = SpanKind.CONSUMER
) -> Iterator[list[Span]]:
    """One span per remote parent, all open while the block runs: a batch of events, each
    from a trace of its own, handled together. A batch of one runs in its span, so what
    the block calls (actor calls, events it writes) joins that trace too."""
    if len(traceparents) == 1:
        with span_from(name, traceparents[0], kind=kind) as span:
            yield [span]
        return
    spans = [TRACER.start_span(name, context=extracted(t), kind=kind) for t in traceparents]
    try:
        yield spans
    finally:
        for span in spans:
            span.end()


def ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for log lines; None outside one."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")
