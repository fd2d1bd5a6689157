"""The whole of Tickler as it runs in development: the app (uvicorn), the dev sidecar (or
real daprd with --runtime dapr) and a real, migrated PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.auth import issue_token
from store.database import migrate, plain_url
from tests.harness import ROOT, DaprPair

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


def stack_fixture(
    name: str, resources: Callable[[Path], Path] | None = None
) -> Callable[..., AsyncIterator[Stack]]:
    """A module-scoped fixture running a fresh stack on its own database."""

    @pytest.fixture(scope="module")
    async def fixture(make_database, runtime, tmp_path_factory) -> AsyncIterator[Stack]:
        url = await make_database(name)
        await asyncio.to_thread(migrate, url)
        workdir = tmp_path_factory.mktemp(name)
        pair = DaprPair(
            app_target="api.main:app_from_env",
            factory=True,
            resources_path=resources(workdir) if resources else ROOT / "components" / "local",
            workdir=workdir,
            runtime=runtime,
            extra_env={
                "DATABASE_URL": url,
                "TICKLER_DAPR_DATABASE_URL": plain_url(url),
                "TICKLER_JWT_SECRET": SECRET,
                "TICKLER_ENV": "test",
            },
        )
        await asyncio.to_thread(pair.start)
        try:
            yield Stack(pair, url)
        finally:
            await asyncio.to_thread(pair.stop)

    return fixture
