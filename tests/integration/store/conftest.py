"""The store tests' engine: a fresh migrated database per test, named after its module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from store.database import create_engine, migrate

POOL_SIZE = 2


@pytest.fixture
async def engine(make_database, request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    url = await make_database(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))
    await asyncio.to_thread(migrate, url)
    # a module may ask for a pool of its own size (POOL_SIZE = 1: its units of work share one)
    engine = create_engine(url, pool_size=getattr(request.module, "POOL_SIZE", POOL_SIZE))
    try:
        yield engine
    finally:
        await engine.dispose()
