"""The whole of Tickler as it runs in development: the app (uvicorn), the dev sidecar (or
real daprd with --runtime dapr) and a real, migrated PostgreSQL database."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from api.auth import issue_token
from store.database import migrate, plain_url
from tests.harness import ROOT, DaprPair, TansuBroker

SECRET = "integration-secret-0123456789abcdefghijkl"


@dataclass
class Stack:
    pair: DaprPair
    database_url: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.pair.app_port}"

    def client(self, user: str = "alice", timeout: float = 30.0) -> httpx.AsyncClient:
        token = issue_token(SECRET, user)
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def restart_app(self) -> None:
        self.pair.start_app()
        self.pair.wait_sidecar_ready()


def kafka_resources(workdir: Path, brokers: str) -> Path:
    """The local components with the pub/sub swapped for `pubsub.kafka` at `brokers`."""
    resources = workdir / "resources"
    resources.mkdir()
    for name in ("statestore.yaml", "secretstore.yaml"):
        shutil.copy(ROOT / "components" / "local" / name, resources / name)
    metadata = {
        "brokers": brokers,
        "consumerGroup": f"tickler-{uuid.uuid4().hex[:8]}",  # Tansu rejoins a group slowly
        "authType": "none",
        "initialOffset": "oldest",
        "sessionTimeout": "6s",
        "heartbeatInterval": "1s",
    }
    component = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "pubsub"},
        "spec": {
            "type": "pubsub.kafka",
            "version": "v1",
            "metadata": [{"name": k, "value": v} for k, v in metadata.items()],
        },
    }
    (resources / "pubsub.yaml").write_text(yaml.safe_dump(component))
    return resources


def app_pair(
    database_url: str,
    jwt_secret: str,
    resources_path: Path,
    workdir: Path,
    *,
    runtime: str = "dev",
    **env: str,
) -> DaprPair:
    """The app (uvicorn, as `tickler dev` starts it) and its sidecar on `database_url`;
    `env`: more of the app's environment."""
    return DaprPair(
        app_target="api.main:app_from_env",
        factory=True,
        resources_path=resources_path,
        workdir=workdir,
        runtime=runtime,
        extra_env={
            "DATABASE_URL": database_url,
            "TICKLER_DAPR_DATABASE_URL": plain_url(database_url),
            "TICKLER_JWT_SECRET": jwt_secret,
            "TICKLER_ENV": "test",
            **env,
        },
    )


def stack_fixture(
    name: str, resources: Callable[[Path], Path] | None = None
) -> Callable[..., AsyncIterator[Stack]]:
    """A module-scoped fixture running a fresh stack on its own database."""

    @pytest.fixture(scope="module")
    async def fixture(make_database, runtime, tmp_path_factory) -> AsyncIterator[Stack]:
        url = await make_database(name)
        await asyncio.to_thread(migrate, url)
        workdir = tmp_path_factory.mktemp(name)
        broker = None
        if resources is not None:
            resources_path = resources(workdir)
        elif runtime == "dapr":
            # real daprd has no pubsub.postgresql (our dev transport): use Kafka on Tansu
            broker = TansuBroker(workdir / "tansu.log").start()
            resources_path = kafka_resources(workdir, broker.address)
        else:
            resources_path = ROOT / "components" / "local"
        pair = app_pair(
            url,
            SECRET,
            resources_path,
            workdir,
            runtime=runtime,
            TICKLER_WEBHOOK_PRIVATE_TARGETS="true",  # the receivers run on loopback
        )
        await asyncio.to_thread(pair.start)
        try:
            yield Stack(pair, url)
        finally:
            await asyncio.to_thread(pair.stop)
            if broker is not None:
                broker.kill()

    return fixture
