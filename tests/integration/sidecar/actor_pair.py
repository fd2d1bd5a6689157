"""Shared set-up for the actor tests: component YAML, the sidecar+app pair, and polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from dapr.actor import ActorId, ActorProxy
from dapr.conf import settings

from tests.harness import DaprPair
from tests.integration.sidecar.apps.actors_app import CounterActorInterface

APP = "tests.integration.sidecar.apps.actors_app:app"
DB_ENV = "TICKLER_DAPR_DATABASE_URL"

RESOURCES = f"""\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: envvar-secrets
spec:
  type: secretstores.local.env
  version: v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.postgresql
  version: v2
  metadata:
    - name: connectionString
      secretKeyRef:
        name: {DB_ENV}
        key: {DB_ENV}
    - name: actorStateStore
      value: "true"
auth:
  secretStore: envvar-secrets
"""


def actor_pair(workdir: Path, database_uri: str, runtime: str) -> DaprPair:
    """A pair for the actor app on `database_uri`, with the SDK pointed at its sidecar."""
    resources = workdir / "resources"
    resources.mkdir(parents=True, exist_ok=True)
    (resources / "components.yaml").write_text(RESOURCES)
    pair = DaprPair(APP, resources, workdir, runtime, extra_env={DB_ENV: database_uri})
    settings.DAPR_HTTP_ENDPOINT = f"http://127.0.0.1:{pair.http_port}"
    return pair


def release_sdk() -> None:
    del settings.DAPR_HTTP_ENDPOINT


def proxy(actor_type: str, actor_id: str) -> Any:
    return ActorProxy.create(actor_type, ActorId(actor_id), CounterActorInterface)


def events(pair: DaprPair, **filters: str) -> list[dict[str, Any]]:
    """What the app's actors saw, filtered by kind, actor and name."""
    name = filters.pop("name", None)
    response = httpx.get(f"http://127.0.0.1:{pair.app_port}/test/events", params=filters)
    response.raise_for_status()
    return [e for e in response.json() if name is None or e.get("name") == name]


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "condition"
) -> None:
    """Poll an async condition; the async twin of tests.harness.wait_until."""
    deadline = time.monotonic() + within
    delay = 0.01
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.25)
