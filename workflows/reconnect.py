"""The workflow client and worker, built to reconnect within a second of the sidecar's return.

After a 34 s sidecar outage, completions kept failing for 12-15 s once the sidecar was ready
again. Two backoffs had grown while it was away:

- gRPC's own reconnect backoff on a channel (1 s, times 1.6 per failed attempt, up to 120 s).
  A call on a channel waiting out its backoff fails at once with UNAVAILABLE. Capped here
  with the channel options below.
- the durabletask worker's loop, which opens a fresh channel per attempt and, when that
  channel's first Hello fails, sleeps 2, 4, 8, then 15 s before the next one. Replaced here
  by `KnockUntilConnected`, which keeps that Hello knocking on its channel instead.

dapr-ext-workflow 1.19 takes no channel options of ours (only message sizes, through
`util.get_grpc_channel_options`). Its client and its worker both keep the options in
`_channel_options` until they open their first channel, so `_cap_backoff` adds ours there,
before first use, and refuses to start if an SDK upgrade moved them.
tests/integration/saga/test_sidecar_outage.py checks the recovery end to end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc
from dapr.ext.workflow import WorkflowRuntime
from dapr.ext.workflow.aio import DaprWorkflowClient

RECONNECT_BACKOFF: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # the connect timeout of one attempt, not a backoff: an unanswered connect is abandoned
    # after a second and tried again, rather than after gRPC's default 20 s
    ("grpc.min_reconnect_backoff_ms", 1000),
)
KNOCK_INTERVAL_S = 0.25
HELLO = "/TaskHubSidecarService/Hello"


def _cap_backoff(holder: object, owner: str) -> None:
    options = getattr(holder, "_channel_options", AttributeError)
    if options is AttributeError or getattr(holder, "_channel", None) is not None:
        raise RuntimeError(
            f"dapr-ext-workflow's {owner} no longer keeps _channel_options before its first "
            "call; update workflows/reconnect.py for this SDK version"
        )
    holder._channel_options = [*(options or ()), *RECONNECT_BACKOFF]


def workflow_client(host: str, port: int) -> DaprWorkflowClient:
    client = DaprWorkflowClient(host=host, port=str(port))
    _cap_backoff(getattr(client, "_DaprWorkflowClient__obj", None), "DaprWorkflowClient")
    return client


def workflow_runtime(host: str, port: int, stopping: threading.Event) -> WorkflowRuntime:
    """`stopping`: set it before `shutdown()`, so a Hello knocking on a sidecar that is
    down gives up."""
    runtime = WorkflowRuntime(
        host=host, port=str(port), interceptors=[KnockUntilConnected(stopping)]
    )
    _cap_backoff(getattr(runtime, "_WorkflowRuntime__worker", None), "WorkflowRuntime worker")
    return runtime


class KnockUntilConnected(grpc.UnaryUnaryClientInterceptor):
    """The worker checks each new channel with a Hello and, when it is refused, drops the
    channel and sleeps up to 15 s. Refused (UNAVAILABLE: nothing is listening yet) is
    retried here on the same channel, whose reconnect backoff is capped, so the worker
    connects within a second of the sidecar's return. Any other answer, and any answer once
    `stopping` is set, goes back to the worker as it came. The worker's keepalive is a
    Hello too: on a lost connection it knocks the same way, on a thread of its own, until
    the sidecar is back or the worker stops."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], client_call_details: Any, request: Any
    ) -> Any:
        if client_call_details.method != HELLO:
            # results and the rest keep the worker's own handling of a lost connection
            return continuation(client_call_details, request)
        while True:
            outcome = continuation(client_call_details, request)
            if not _refused(outcome) or self.stopping.wait(KNOCK_INTERVAL_S):
                return outcome


def _refused(outcome: Any) -> bool:
    return outcome.exception() is not None and outcome.code() == grpc.StatusCode.UNAVAILABLE
