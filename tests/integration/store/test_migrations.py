"""Alembic migrations upgrade and downgrade cleanly, and match the SQLModel tables."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from store.database import downgrade, migrate, sync_url
from store.tables import metadata

APP_TABLES = {"tasks", "series", "tags", "task_tags", "reminders", "outbox", "idempotency_keys"}


def tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


async def test_upgrade_downgrade_upgrade(make_database) -> None:
    url = await make_database("mig")
    await asyncio.to_thread(migrate, url)
    assert tables(url) >= APP_TABLES
    await asyncio.to_thread(downgrade, url, "base")
    assert tables(url) == set()
    await asyncio.to_thread(migrate, url)
    assert tables(url) >= APP_TABLES


async def test_migrations_match_the_models(make_database) -> None:
    url = await make_database("drift")
    await asyncio.to_thread(migrate, url)
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []
