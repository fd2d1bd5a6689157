"""Shared set-up for the actor tests: component YAML, the sidecar+app pair, and polling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from dapr.actor import ActorId, ActorProxy
from dapr.conf import settings

from devstack.apps.actors_app import CounterActorInterface
from devstack.processes import DaprPair
from devstack.state_store import DB_ENV, state_store_resources

APP = "devstack.apps.actors_app:app"


def actor_pair(workdir: Path, database_uri: str, runtime: str) -> DaprPair:
    """A pair for the actor app on `database_uri`, with the SDK pointed at its sidecar."""
    resources = state_store_resources(workdir)
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
