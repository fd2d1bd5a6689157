"""The whole of Tickler as it runs in development: the app (uvicorn), the dev sidecar (or
real daprd with --runtime dapr), a Kafka-wire broker (Tansu) and a real, migrated PostgreSQL
database. The components are components/local's, the files `tickler dev` and
`dapr run -f .` load, with only the broker address and the consumer group changed; the
sidecar-app channel carries both tokens, as under `tickler dev`. The pytest fixture that
runs one per test module is tests/integration/stack_fixture.py."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.auth import issue_token
from api.dev_broker import local_resources
from devstack.clock import DevClock
from devstack.processes import DaprPair
from store.database import plain_url

# The JWT secret the tests' stacks run with; Stack.client signs its tokens with it.
SECRET = "integration-secret-0123456789abcdefghijkl"


@dataclass
class Stack:
    pair: DaprPair
    database_url: str
    clock: DevClock

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

    @property
    def sidecar_url(self) -> str:
        return f"http://127.0.0.1:{self.pair.http_port}"

    def sidecar(self, timeout: float = 30.0) -> httpx.AsyncClient:
        """A client of the sidecar's HTTP API, sending DAPR_API_TOKEN as the app's SDK does."""
        return httpx.AsyncClient(
            base_url=self.sidecar_url, headers=self.pair.sidecar_headers, timeout=timeout
        )

    def restart_app(self) -> None:
        self.pair.start_app()
        self.pair.wait_sidecar_ready()


def kafka_resources(workdir: Path, brokers: str) -> Path:
    """components/local with the pub/sub pointed at `brokers`, in a fresh consumer group
    (DAPR-CONTRACT.md, "Kafka in tests": Tansu rejoins a known group slowly)."""
    return local_resources(
        workdir / "resources", brokers, consumerGroup=f"tickler-{uuid.uuid4().hex[:8]}"
    )


def app_pair(
    database_url: str,
    jwt_secret: str,
    resources_path: Path,
    workdir: Path,
    *,
    runtime: str = "dev",
    clock: DevClock | None = None,
    **env: str,
) -> DaprPair:
    """The app (uvicorn, as `tickler dev` starts it) and its sidecar on `database_url`;
    `clock`: time the test moves forward itself; `env`: more of the app's environment."""
    if clock is not None and clock.controllable:
        env["TICKLER_DEV_CLOCK_FILE"] = str(clock.path)
    return DaprPair(
        app_target="api.main:app_from_env",
        factory=True,
        resources_path=resources_path,
        workdir=workdir,
        runtime=runtime,
        app_api_token=secrets.token_urlsafe(32),
        dapr_api_token=secrets.token_urlsafe(32),
        extra_env={
            "DATABASE_URL": database_url,
            "TICKLER_DAPR_DATABASE_URL": plain_url(database_url),
            "TICKLER_JWT_SECRET": jwt_secret,
            "TICKLER_ENV": "test",
            **env,
        },
        clock_file=clock.path if clock is not None and clock.controllable else None,
    )
