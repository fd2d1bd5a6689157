"""Serve only the workflow engine on a grpc.aio server, in a thread or as its own process.

The SDK's client and worker are blocking, so the engine gets its own event loop in a
background thread and the tests stay plain functions. As a process
(`python -m tests.integration.sidecar.workflow_engine_server DB_URI PORT`) it can be
SIGKILLed like the real sidecar.
"""

from __future__ import annotations

import asyncio
import sys
import threading

import asyncpg
import grpc
from dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2_grpc import (
    add_TaskHubSidecarServiceServicer_to_server,
)

from sidecar.workflows import WorkflowEngine


async def serve(db_uri: str, port: int, stop: asyncio.Event, started: threading.Event) -> None:
    pool = await asyncpg.create_pool(db_uri, min_size=2, max_size=10)
    engine = WorkflowEngine(pool)
    server = grpc.aio.server()
    add_TaskHubSidecarServiceServicer_to_server(engine.servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await engine.start()
    started.set()
    try:
        await stop.wait()
    finally:
        await server.stop(grace=0.5)
        await engine.stop()
        await pool.close()


class EngineThread:
    """The engine on 127.0.0.1:`port`, until stop(); start() returns once it serves."""

    def __init__(self, db_uri: str, port: int):
        self.db_uri, self.port = db_uri, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EngineThread:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._stop = asyncio.Event()
            self._loop.run_until_complete(serve(self.db_uri, self.port, self._stop, started))
            self._loop.close()

        self._thread = threading.Thread(target=run, name="workflow-engine", daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise TimeoutError("workflow engine did not start")
        return self

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(15)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), asyncio.Event(), threading.Event()))
