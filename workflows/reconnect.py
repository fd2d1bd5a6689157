"""The workflow client, built to reconnect within a second of the sidecar's return.

After a 34 s sidecar outage, completions kept failing for 12-15 s once the sidecar was ready
again: gRPC's own reconnect backoff on a channel (1 s, times 1.6 per failed attempt, up to
120 s) had grown while it was away, and a call on a channel waiting out its backoff fails at
once with UNAVAILABLE. RECONNECT_BACKOFF caps it, for the client here and for the worker's
channel (workflows/worker.py, which also knocks with Hello until the sidecar answers).

dapr-ext-workflow 1.19 takes no channel options of ours (only message sizes, through
`util.get_grpc_channel_options`). Its client keeps the options in `_channel_options` until
it opens its first channel, so `_cap_backoff` adds ours there, before first use, and
refuses to start if an SDK upgrade moved them.
tests/integration/saga/test_sidecar_outage.py checks the recovery end to end.

The client also sends the current span's `traceparent` as gRPC metadata on every unary
call (TraceMetadata), which is where daprd takes a new instance's parent trace context from.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc.aio
from dapr.ext.workflow.aio import DaprWorkflowClient
from dapr.ext.workflow.logger import LoggerOptions

from telemetry import tracing

RECONNECT_BACKOFF: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # the connect timeout of one attempt, not a backoff: an unanswered connect is abandoned
    # after a second and tried again, rather than after gRPC's default 20 s
    ("grpc.min_reconnect_backoff_ms", 1000),
)


class TraceMetadata(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request) -> Any:
        carrier: dict[str, str] = {}
        tracing.inject(carrier)
        if carrier:
            client_call_details = client_call_details._replace(
                metadata=[*(client_call_details.metadata or ()), *carrier.items()]
            )
        return await continuation(client_call_details, request)


def sdk_logging() -> LoggerOptions:
    """The SDK gives each of its loggers a stderr handler of its own, in its own format;
    a handler that drops everything leaves their records to the process's logging (JSON
    lines in production, telemetry.logs), once."""
    logging.getLogger("durabletask-client").setLevel(logging.WARNING)  # 3 lines per saga
    return LoggerOptions(log_handler=logging.NullHandler())


def _cap_backoff(holder: object, owner: str) -> None:
    options = getattr(holder, "_channel_options", AttributeError)
    if options is AttributeError or getattr(holder, "_channel", None) is not None:
        raise RuntimeError(
            f"dapr-ext-workflow's {owner} no longer keeps _channel_options before its first "
            "call; update workflows/reconnect.py for this SDK version"
        )
    holder._channel_options = [*(options or ()), *RECONNECT_BACKOFF]


def _trace_calls(holder: object) -> None:
    interceptors = getattr(holder, "_interceptors", AttributeError)
    if interceptors is AttributeError:
        raise RuntimeError(
            "dapr-ext-workflow's client no longer keeps _interceptors before its first call; "
            "update workflows/reconnect.py for this SDK version"
        )
    holder._interceptors = [*(interceptors or ()), TraceMetadata()]


def workflow_client(host: str, port: int) -> DaprWorkflowClient:
    client = DaprWorkflowClient(host=host, port=str(port), logger_options=sdk_logging())
    holder = getattr(client, "_DaprWorkflowClient__obj", None)
    _cap_backoff(holder, "DaprWorkflowClient")
    _trace_calls(holder)
    return client
