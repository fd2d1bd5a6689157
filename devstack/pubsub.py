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


BULK_APP_TARGET = "devstack.apps.bulk_pubsub_app:app"


class BulkTopics:
    """The bulk subscriber app's topics under one prefix: publish to them in bulk, read the
    bulk POSTs the app recorded."""

    def __init__(self, pair: DaprPair, prefix: str) -> None:
        self.pair, self.prefix = pair, prefix

    def publish(self, topic: str, entries: list[dict[str, Any]]) -> httpx.Response:
        return httpx.post(
            f"http://127.0.0.1:{self.pair.http_port}"
            f"/v1.0-alpha1/publish/bulk/pubsub/{self.prefix}{topic}",
            json=entries,
            timeout=30,
        )

    def posts(self, topic: str, mark: str) -> list[dict[str, Any]]:
        got = httpx.get(f"http://127.0.0.1:{self.pair.app_port}/posts/{topic}", timeout=5).json()
        return [
            p
            for p in got
            if any(e["event"]["data"].get("mark") == mark for e in p["envelope"]["entries"])
        ]

    def wait_posts(self, topic: str, mark: str, count: int) -> list[dict[str, Any]]:
        wait_until(
            lambda: len(self.posts(topic, mark)) >= count,
            timeout=60,
            what=f"{count} bulk POSTs of {mark} on {topic}\n{self.pair.sidecar.log()[-3000:]}",
        )
        return self.posts(topic, mark)

    def dead_letters(self, topic: str, mark: str) -> list[dict[str, Any]]:
        got = httpx.get(f"http://127.0.0.1:{self.pair.app_port}/single/{topic}", timeout=5).json()
        return [e for e in got if e["data"].get("mark") == mark]


def bulk_entry(mark: str, n: int, answer: str = "SUCCESS") -> dict[str, Any]:
    """One entry of a bulk publish; the subscriber app answers it with `answer`."""
    return {
        "entryId": f"e{n}",
        "event": {"mark": mark, "n": n, "answer": answer},
        "contentType": "application/json",
    }


def entry_ns(post: dict[str, Any]) -> list[int]:
    """The `n`s of a bulk POST's entries, sorted."""
    return sorted(e["event"]["data"]["n"] for e in post["envelope"]["entries"])


def write_inbound_retry(directory: Path, retries: int) -> None:
    """A Resiliency policy that retries the pub/sub component's inbound deliveries `retries`
    times, 10ms apart."""
    document = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Resiliency",
        "metadata": {"name": "inbound"},
        "spec": {
            "policies": {
                "retries": {
                    "quick": {"policy": "constant", "duration": "10ms", "maxRetries": retries}
                }
            },
            "targets": {"components": {"pubsub": {"inbound": {"retry": "quick"}}}},
        },
    }
    (directory / "resiliency.yaml").write_text(yaml.safe_dump(document))
