"""The metrics endpoint, on a port of its own (default 9464), never the API's: scraped by
Prometheus from inside the cluster, and closed to everyone else by the chart."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import start_http_server

from telemetry.metrics import REGISTRY

log = logging.getLogger(__name__)


def serve(host: str, port: int) -> Callable[[], None]:
    """Serve /metrics on `port` from a thread of prometheus_client's; returns `stop`."""
    server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
