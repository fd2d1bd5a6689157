"""The sidecar's HTTP server: health, metadata, the API token check, and the building blocks'
routes, in one Starlette app."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

HEALTH_PREFIX = "/v1.0/healthz"


def dapr_error(status: int, code: str, message: str) -> JSONResponse:
    """daprd's error body."""
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


class ApiTokenCheck:
    """Refuse requests without `dapr-api-token` when DAPR_API_TOKEN is set (health exempt)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(HEALTH_PREFIX):
            given = dict(scope["headers"]).get(b"dapr-api-token", b"")
            if not hmac.compare_digest(given, self._token):
                response = dapr_error(401, "ERR_API_TOKEN", "invalid api token")
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def http_app(
    routes: Sequence[BaseRoute],
    *,
    is_ready: Callable[[], bool],
    metadata: Callable[[], dict[str, Any]],
    api_token: str | None,
) -> ASGIApp:
    async def outbound(_: Request) -> Response:
        return Response(status_code=204)

    async def healthz(_: Request) -> Response:
        if is_ready():
            return Response(status_code=204)
        return dapr_error(500, "ERR_HEALTH_NOT_READY", "the sidecar has not reached the app yet")

    async def get_metadata(_: Request) -> Response:
        return JSONResponse(metadata())

    app: ASGIApp = Starlette(
        routes=[
            Route(f"{HEALTH_PREFIX}/outbound", outbound, methods=["GET"]),
            Route(HEALTH_PREFIX, healthz, methods=["GET"]),
            Route("/v1.0/metadata", get_metadata, methods=["GET"]),
            *routes,
        ]
    )
    if api_token:
        app = ApiTokenCheck(app, api_token)
    return app
