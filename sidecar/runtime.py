"""The sidecar process: components, servers and building blocks, started and stopped in order.

Start: load components -> PostgreSQL pools -> HTTP (uvicorn) and gRPC servers listening ->
wait for the app -> read its `/dapr/config` -> actors, pub/sub and workflows start -> healthy.
A SIGKILL at any point loses nothing durable: every building block keeps its truth in
PostgreSQL and re-reads it at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import uvicorn
from dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2_grpc import (
    add_TaskHubSidecarServiceServicer_to_server,
)
from dapr.proto.runtime.v1.dapr_pb2_grpc import add_DaprServicer_to_server

from sidecar.actors import ActorConfig, ActorService
from sidecar.app_channel import AppChannel
from sidecar.components import Component, load_components
from sidecar.database import close_pools, pool_for
from sidecar.grpc_api import DaprApi
from sidecar.http_api import http_app
from sidecar.pubsub import PubSubEngine
from sidecar.resiliency import load_resiliency
from sidecar.workflows import WorkflowEngine

log = logging.getLogger(__name__)
RUNTIME_VERSION = "1.19.0-dev"


@dataclass(frozen=True)
class Options:
    app_id: str
    app_port: int
    http_port: int
    grpc_port: int
    resources_path: Path
    app_host: str = "127.0.0.1"
    listen_host: str = "127.0.0.1"


class _HttpServer(uvicorn.Server):
    """uvicorn inside our loop; the runtime, not uvicorn, owns SIGTERM and SIGINT."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _ApiTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token.encode()

        async def refuse(_: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid api token")

        self._refusal = grpc.unary_unary_rpc_method_handler(refuse)

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        given = dict(details.invocation_metadata or ()).get("dapr-api-token", "")
        if not hmac.compare_digest(str(given).encode(), self._token):
            return self._refusal
        return await continuation(details)


class Runtime:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.components: list[Component] = []
        self.app = AppChannel(options.app_host, options.app_port)
        self.actors: ActorService | None = None
        self.pubsub: PubSubEngine | None = None
        self.workflows: WorkflowEngine | None = None
        self.ready = False
        self._http: _HttpServer | None = None
        self._http_task: asyncio.Task | None = None
        self._grpc: grpc.aio.Server | None = None
        self._connecting: asyncio.Task | None = None

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.stop()

    async def start(self) -> None:
        opts = self.options
        self.components = load_components(opts.resources_path, opts.app_id)
        actor_store = next(
            (c for c in self.components if c.kind == "state" and c.flag("actorStateStore")), None
        )
        self.pubsub = PubSubEngine(
            self.components,
            pool_for,
            self.app,
            opts.app_id,
            load_resiliency(opts.resources_path, opts.app_id),
        )
        routes = list(self.pubsub.routes)
        if actor_store is not None:
            pool = await pool_for(actor_store.metadata["connectionString"])
            table = actor_store.metadata.get("tableName") or "state"
            self.actors = ActorService(self.app, opts.app_id, pool, table)
            await self.actors.prepare()
            self.workflows = WorkflowEngine(pool)
            routes = [*self.actors.routes, *routes]
        else:
            log.warning("no state store with actorStateStore=true: actors and workflows are off")
        api_token = os.environ.get("DAPR_API_TOKEN") or None
        app = http_app(
            routes, is_ready=lambda: self.ready, metadata=self.metadata, api_token=api_token
        )
        await self._serve_http(app)
        await self._serve_grpc(api_token)
        self._connecting = asyncio.create_task(self._connect_app(), name="connect-app")

    async def _serve_http(self, app: Any) -> None:
        config = uvicorn.Config(
            app,
            host=self.options.listen_host,
            port=self.options.http_port,
            access_log=False,
            lifespan="off",
            log_level=logging.getLogger().getEffectiveLevel(),
            timeout_keep_alive=120,
            timeout_graceful_shutdown=2,  # a call stuck in the app must not hold up SIGTERM
        )
        self._http = _HttpServer(config)
        self._http_task = asyncio.create_task(self._http.serve(), name="http-server")
        listening = asyncio.create_task(self._http.listening.wait())
        await asyncio.wait({listening, self._http_task}, return_when=asyncio.FIRST_COMPLETED)
        if not self._http.listening.is_set():
            listening.cancel()
            raise RuntimeError(f"HTTP server failed to listen on :{self.options.http_port}")

    async def _serve_grpc(self, api_token: str | None) -> None:
        interceptors = [_ApiTokenInterceptor(api_token)] if api_token else []
        self._grpc = grpc.aio.server(interceptors=interceptors)
        assert self.pubsub is not None
        add_DaprServicer_to_server(DaprApi(self.pubsub, self.metadata), self._grpc)
        if self.workflows is not None:
            add_TaskHubSidecarServiceServicer_to_server(self.workflows.servicer, self._grpc)
        self._grpc.add_insecure_port(f"{self.options.listen_host}:{self.options.grpc_port}")
        await self._grpc.start()

    async def _connect_app(self) -> None:
        """As daprd: wait for the app however long it takes, then start what needs it."""
        while True:
            try:
                await self.app.wait_until_ready()
                break
            except httpx.TransportError:
                log.info("still waiting for the app on %s", self.app.base_url)
        try:
            config = await self._app_config()
            if self.actors is not None:
                await self.actors.start(config)
            assert self.pubsub is not None
            await self.pubsub.start()
            if self.workflows is not None:
                await self.workflows.start()
        except Exception:
            log.exception("starting the building blocks failed; the sidecar stays unhealthy")
            raise
        self.ready = True
        log.info("ready: app at %s, actor types %s", self.app.base_url, sorted(config.entities))

    async def _app_config(self) -> ActorConfig:
        response = await self.app.get("/dapr/config")
        if response.status_code != 200:
            return ActorConfig()  # an app without actors
        return ActorConfig.from_app(response.json())

    async def stop(self) -> None:
        self.ready = False
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        for block in (self.workflows, self.pubsub, self.actors):
            if block is not None:
                await block.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await asyncio.gather(self._http_task, return_exceptions=True)
        await self.app.aclose()
        await close_pools()

    def metadata(self) -> dict[str, Any]:
        counts = self.actors.counts() if self.actors is not None else {}
        active = [{"type": t, "count": n} for t, n in sorted(counts.items())]
        return {
            "id": self.options.app_id,
            "runtimeVersion": RUNTIME_VERSION,
            "enabledFeatures": [],
            "actors": active,
            "actorRuntime": {
                "runtimeStatus": "RUNNING" if self.ready else "INITIALIZING",
                "activeActors": active,
                "hostReady": self.ready,
                "placement": "single host",
            },
            "components": [
                {"name": c.name, "type": c.type, "version": c.version, "capabilities": []}
                for c in self.components
            ],
            "appConnectionProperties": {
                "port": self.options.app_port,
                "protocol": "http",
                "channelAddress": self.options.app_host,
            },
            "extended": {},
        }
