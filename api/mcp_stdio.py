"""`tickler mcp`: the MCP server over stdio for desktop agents, as the user of TICKLER_TOKEN."""

from __future__ import annotations

import os
import sys

import anyio

from api.auth import AuthError, Caller, token_verifier
from api.mcp import authenticated_as, build_server
from api.settings import Settings
from domain.clock import SystemClock
from service.completion import InProcessCompletions
from service.series_control import InProcessSeriesControl
from store.database import create_engine
from store.uow import SqlUnitOfWork


def run_stdio(settings: Settings, database_url: str) -> int:
    """Serve until stdin closes. Exit 2 when TICKLER_TOKEN is missing or not valid here."""
    token = os.environ.get("TICKLER_TOKEN", "").strip()
    if not token:
        print("tickler mcp: set TICKLER_TOKEN (see `tickler token --user NAME`)", file=sys.stderr)
        return 2
    try:
        caller = anyio.run(token_verifier(settings).caller, token)
    except AuthError as exc:
        print(f"tickler mcp: TICKLER_TOKEN is not valid: {exc}", file=sys.stderr)
        return 2
    anyio.run(_serve, database_url, caller, token)
    return 0


async def _serve(database_url: str, caller: Caller, token: str) -> None:
    # one agent, one call at a time: a small pool is plenty
    engine = create_engine(database_url, pool_size=2)
    clock = SystemClock()
    units = lambda: SqlUnitOfWork(engine, clock)  # noqa: E731
    # stdio runs beside no sidecar: completion runs in-process, with the same contract
    completions = InProcessCompletions(units)
    series_control = InProcessSeriesControl(units)
    server = build_server(units, clock, lambda: completions, lambda: series_control)
    try:
        with authenticated_as(caller, token):
            await server.run_stdio_async()
    finally:
        await engine.dispose()
