"""The HTTP API in-process (ASGI) against a real, migrated PostgreSQL database.

The clock is frozen so that "overdue", catch-up and reminder times are exact; tests that
need time to pass move it explicitly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from api.auth import issue_token
from api.main import create_app
from api.settings import Settings
from store.database import migrate
from tests.clocks import FrozenClock

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # a Monday
SECRET = "test-secret-for-the-suite-only-0123456789"


@dataclass
class Api:
    client: httpx.AsyncClient
    clock: FrozenClock
    database_url: str

    def auth(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(SECRET, user)}"}

    async def create(self, user: str = "alice", **body) -> dict:
        body.setdefault("title", "a task")
        r = await self.client.post("/v1/tasks", json=body, headers=self.auth(user))
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture(scope="module")
async def api(make_database) -> AsyncIterator[Api]:
    url = await make_database("api")
    await asyncio.to_thread(migrate, url)
    clock = FrozenClock(NOW)
    settings = Settings(env="test", database_url=url, jwt_secret=SECRET)
    app = create_app(settings, clock)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tickler") as client:
            yield Api(client, clock, url)


@asynccontextmanager
async def running(app) -> AsyncIterator[None]:
    """Run the app's lifespan in a task of its own: its task groups must start and stop in
    one task, while pytest may tear a fixture down from another."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    await asyncio.wait(
        [task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED
    )
    if task.done():
        task.result()  # the lifespan failed: raise its error here
    try:
        yield
    finally:
        stop.set()
        await task
