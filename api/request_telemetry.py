"""Per request, in one outermost middleware: a server span (its parent the caller's
`traceparent`, its name the route template), a request id (the caller's `X-Request-ID`, or
a new one, echoed back), an access-log line in that span, and, when metrics are served, a
count and a latency histogram per route template, method and status. Outermost, so
refusals by the other middleware (401, 413) are traced, logged and counted too.

Not FastAPI's native telemetry (off in api.main): it cost 55-70 µs a request even when the
request was not sampled, against about 10 µs for this span (bench/RESULTS.md, issue 12)."""

from __future__ import annotations

import re
import time
import uuid

from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetry import tracing
from telemetry.logs import ACCESS, REQUEST_ID
from telemetry.metrics import HTTP_DURATION, HTTP_REQUESTS

# a path no route matched: one label for all of them, whatever a scanner sends
UNMATCHED = "unmatched"
REQUEST_ID_HEADER = b"x-request-id"
# a caller's request id is kept only when it is short and plain: it goes into every log line
_PLAIN_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


class RequestTelemetry:
    def __init__(self, app: ASGIApp, *, metrics: bool = True, access_log: bool = True) -> None:
        self.app, self.metrics, self.access_log = app, metrics, access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = dict(scope["headers"])
        sent_id = headers.get(REQUEST_ID_HEADER, b"")
        request_id = sent_id.decode() if _PLAIN_ID.fullmatch(sent_id) else uuid.uuid4().hex
        status = 500  # an exception before the response started is a 500 to the client

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        token = REQUEST_ID.set(request_id)
        traceparent = headers.get(b"traceparent", b"").decode("latin-1") or None
        try:
            with tracing.span_from(scope["method"], traceparent, kind=SpanKind.SERVER) as span:
                try:
                    await self.app(scope, receive, sending)
                finally:
                    # the router puts the matched route in the scope it shares with us
                    route = getattr(scope.get("route"), "path", None) or UNMATCHED
                    self._record(span, scope, route, status, time.perf_counter() - started)
        finally:
            REQUEST_ID.reset(token)

    def _record(self, span: Span, scope: Scope, route: str, status: int, elapsed: float) -> None:
        method = scope["method"]
        if span.is_recording():
            span.update_name(f"{method} {route}")
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        if self.access_log:
            fields = {
                "method": method,
                "route": route,
                "path": scope["path"],
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            }
            ACCESS.info(
                "%s %s %d %.1f ms",
                method,
                scope["path"],
                status,
                elapsed * 1000,
                extra={"http": fields},
            )
        if self.metrics:
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_DURATION.labels(route, method).observe(elapsed)
