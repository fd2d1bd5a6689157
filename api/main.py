"""The ASGI application: one FastAPI app, one lifespan that owns every long-lived resource."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from api import ops_pages, problems, protected_resource
from api.auth import token_verifier
from api.dapr_parts import DaprParts
from api.dev_clock import OffsetFileClock
from api.housekeeping import Housekeeping
from api.mcp import McpEndpoint
from api.metrics_sampler import metrics_sampler
from api.rate_limit import RateLimit
from api.request_telemetry import RequestTelemetry
from api.routes import (
    audit,
    dead_letters,
    health,
    notifications,
    operations,
    ops_status,
    reminders,
    saga_runs,
    series,
    stream,
    tags,
    tasks,
    webhooks,
)
from api.settings import Settings
from domain.clock import Clock, SystemClock
from messaging import EventsRuntime
from messaging.scheduling import reminder_scheduler
from service.completion import InProcessCompletions
from service.series_control import InProcessSeriesControl
from store.database import create_engine
from store.live_channel import LiveListener
from store.uow import SqlUnitOfWork
from telemetry.logs import configure as configure_logs
from telemetry.server import serve as serve_metrics
from telemetry.tracing import configure as configure_tracing


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413 before they are buffered."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._too_large(send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        response = problems.problem(413, "Content too large", f"body over {self.limit} bytes")
        await response({"type": "http"}, None, send)  # type: ignore[arg-type]


class _TooLarge(Exception):
    """The body grew past the limit while it was being read."""


class AppToken:
    """With APP_API_TOKEN set, only the sidecar may call the Dapr callback routes (actor
    methods, reminders, timers, subscriptions and the events they deliver): it sends the
    token as `dapr-api-token` (daprd and our dev sidecar alike). `tickler dev` and the chart
    always set it; production refuses to start without it (api.settings)."""

    PREFIXES = ("/dapr/", "/actors/", "/events/")

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.PREFIXES):
            sent = dict(scope["headers"]).get(b"dapr-api-token", b"")
            if not hmac.compare_digest(sent, self.token):
                response = problems.problem(401, "Unauthorized", "dapr-api-token required")
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    if clock is None:
        clock = (
            OffsetFileClock(settings.dev_clock_file) if settings.dev_clock_file else SystemClock()
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.database_url
        if url is None:
            raise RuntimeError("DATABASE_URL is not set (run `tickler dev` or `tickler serve`)")
        engine = create_engine(url, pool_size=settings.db_pool_size)
        app.state.engine = engine
        app.state.uow_factory = lambda: SqlUnitOfWork(engine, clock, on_commit=events.wake)
        app.state.completions = InProcessCompletions(app.state.uow_factory)
        app.state.saga_control = None  # no workflow runtime without a sidecar
        app.state.schedules = None  # nor actors
        app.state.series_control = InProcessSeriesControl(app.state.uow_factory)
        # every replica LISTENs: the live consumer's NOTIFY reaches streams on all of them
        listener = LiveListener(url, live)
        await listener.start()
        housekeeping.start(app.state.uow_factory)
        sampler = metrics_sampler(
            app.state.uow_factory, timedelta(seconds=settings.metrics_sample_interval_s)
        )
        sampler.start()
        stop_metrics = (
            serve_metrics(settings.metrics_host, settings.metrics_port)
            if settings.metrics_port
            else None
        )
        try:
            async with mcp.sessions.run():  # mounted apps' lifespans never run on their own
                # beside a Dapr sidecar: actors, the completion saga, the outbox relay
                if dapr is not None:
                    app.state.completions = await dapr.start(app.state.uow_factory)
                    app.state.saga_control = app.state.completions
                    app.state.schedules = dapr.lookup
                    app.state.series_control = dapr.series_control
                    await events.start(app.state.uow_factory)
                try:
                    yield
                finally:
                    await events.stop()
                    if dapr is not None:
                        await dapr.stop()
        finally:
            if stop_metrics is not None:
                stop_metrics()
            await sampler.stop()
            await housekeeping.stop()
            await listener.stop()
            await engine.dispose()

    app = FastAPI(
        title="Tickler",
        version="1.0.0",
        description="Tasks, recurring series and reminders for AI agents and programs.",
        lifespan=lifespan,
        # none of FastAPI's native telemetry: api.request_telemetry makes the server span
        # for a sixth of the cost, and telemetry.metrics and .logs have the rest
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.verifier = token_verifier(settings)
    app.state.rate_limit = RateLimit(settings.rate_limit_per_s, settings.rate_limit_burst)
    housekeeping = Housekeeping(timedelta(seconds=settings.housekeeping_interval_s))
    scheduler = reminder_scheduler(lambda: dapr.proxies) if settings.dapr_enabled else None
    live = stream.LiveHub()
    events = EventsRuntime(
        settings.pubsub_name,
        scheduler=scheduler,
        private_webhooks=settings.webhook_private_targets,
    )
    mcp = McpEndpoint(
        settings,
        app.state.verifier,
        app.state.rate_limit,
        lambda: app.state.uow_factory(),
        clock,
        lambda: app.state.completions,
        lambda: app.state.series_control,
    )
    # a route, not a Mount: a Mount answers /mcp with a redirect to /mcp/ on every call
    app.add_route("/mcp", mcp.asgi, include_in_schema=False)
    problems.install(app)
    app.include_router(health.router)
    app.include_router(protected_resource.router)
    app.include_router(tasks.router)
    app.include_router(tags.router)
    app.include_router(reminders.router)
    app.include_router(series.router)
    app.include_router(operations.router)
    app.include_router(dead_letters.router)
    app.include_router(saga_runs.router)
    app.include_router(ops_status.router)
    app.include_router(ops_pages.router)
    app.include_router(notifications.router)
    app.include_router(audit.router)
    app.include_router(webhooks.router)
    app.include_router(stream.stream_router(live))
    app.include_router(events.router)
    # after our own routes, so that our /healthz wins over the actor extension's
    dapr = DaprParts(app, settings, clock) if settings.dapr_enabled else None
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    # An empty APP_API_TOKEN is no token, as daprd reads it: it sends no header then.
    if settings.app_api_token is not None and settings.app_api_token.get_secret_value():
        app.add_middleware(AppToken, token=settings.app_api_token.get_secret_value())
    # last: the outermost; metrics only when a port serves them
    app.add_middleware(
        RequestTelemetry, metrics=bool(settings.metrics_port), access_log=settings.access_log
    )
    return app


def observed(settings: Settings) -> Settings:
    """The process's logs and traces, set up once by each entry point (never by create_app,
    which tests call in-process beside pytest's own log capture)."""
    configure_logs(settings.log_format, logging.getLevelNamesMapping()[settings.log_level])
    configure_tracing()
    return settings


def app_from_env() -> FastAPI:
    """Entry for `uvicorn api.main:app_from_env --factory` (`tickler dev`)."""
    return create_app(observed(Settings()))
