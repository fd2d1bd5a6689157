"""HTTP request metrics: a count and a latency histogram per route template, method and
status. Outermost, so refusals by the other middleware (401, 413) are counted too."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetry.metrics import HTTP_DURATION, HTTP_REQUESTS

# a path no route matched: one label for all of them, whatever a scanner sends
UNMATCHED = "unmatched"


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # an exception before the response started is a 500 to the client

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # the router puts the matched route in the scope it shares with us
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"]
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_DURATION.labels(route, method).observe(time.perf_counter() - started)
