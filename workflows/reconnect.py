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
"""

from __future__ import annotations

from dapr.ext.workflow.aio import DaprWorkflowClient

RECONNECT_BACKOFF: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # the connect timeout of one attempt, not a backoff: an unanswered connect is abandoned
    # after a second and tried again, rather than after gRPC's default 20 s
    ("grpc.min_reconnect_backoff_ms", 1000),
)


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
