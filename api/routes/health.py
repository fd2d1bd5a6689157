"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the body says which
        return Response(
            f'{{"status":"unavailable","detail":"{type(exc).__name__}"}}',
            503,
            media_type="application/json",
        )
    return Response('{"status":"ready"}', media_type="application/json")
