"""Helpers the pub/sub test modules share: component files, the SDK client, what the app got."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from dapr.clients import DaprClient
from dapr.conf import settings

from devstack.processes import DaprPair, wait_until

APP_TARGET = "devstack.apps.pubsub_app:app"


def write_component(directory: Path, component_type: str, metadata: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "pubsub"},
        "spec": {
            "type": component_type,
            "version": "v1",
            "metadata": [{"name": k, "value": v} for k, v in metadata.items()],
        },
    }
    (directory / "pubsub.yaml").write_text(yaml.safe_dump(document))
    return directory


@contextlib.contextmanager
def dapr_client(pair: DaprPair) -> Iterator[DaprClient]:
    """The SDK's client aimed at `pair` (its settings are process-wide, so set and restore)."""
    saved = (settings.DAPR_RUNTIME_HOST, settings.DAPR_HTTP_PORT, settings.DAPR_GRPC_PORT)
    settings.DAPR_RUNTIME_HOST = "127.0.0.1"
    settings.DAPR_HTTP_PORT = pair.http_port
    settings.DAPR_GRPC_PORT = pair.grpc_port
    try:
        with DaprClient(address=f"127.0.0.1:{pair.grpc_port}") as client:
            yield client
    finally:
        settings.DAPR_RUNTIME_HOST, settings.DAPR_HTTP_PORT, settings.DAPR_GRPC_PORT = saved


def received(pair: DaprPair, topic: str) -> list[dict[str, Any]]:
    """Deliveries the app recorded for `topic` (empty while the app is down)."""
    try:
        return httpx.get(f"http://127.0.0.1:{pair.app_port}/received/{topic}", timeout=5).json()
    except httpx.HTTPError:
        return []


def deliveries_of(pair: DaprPair, topic: str, marker: str) -> list[dict[str, Any]]:
    """Deliveries on `topic` whose event data carries `marker`."""
    return [d for d in received(pair, topic) if marker in str(d["event"].get("data", ""))]


def wait_for_deliveries(
    pair: DaprPair, topic: str, marker: str, count: int = 1, timeout: float = 30.0
) -> list[dict[str, Any]]:
    wait_until(
        lambda: len(deliveries_of(pair, topic, marker)) >= count,
        timeout=timeout,
        what=f"{count} deliveries of {marker} on {topic}\n"
        f"{pair.sidecar.log()[-3000:] if pair.sidecar else ''}",
    )
    return deliveries_of(pair, topic, marker)


def http_publish(
    pair: DaprPair,
    topic: str,
    body: bytes,
    content_type: str,
    pubsub: str = "pubsub",
    **metadata: str,
) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{pair.http_port}/v1.0/publish/{pubsub}/{topic}",
        content=body,
        headers={"content-type": content_type},
        params={f"metadata.{k}": v for k, v in metadata.items()},
        timeout=10,
    )
