"""store.uow on a real PostgreSQL: a reading unit of work runs its statements outside any
transaction (no BEGIN, no ROLLBACK round trip), and the pooled connection it used opens
transactions again for the next unit of work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from store.uow import SqlUnitOfWork
from tests.clocks import FrozenClock

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


POOL_SIZE = 1  # one connection: both units of work in a test share it


async def in_transaction_after_a_query(uow: SqlUnitOfWork) -> bool:
    await uow.conn.execute(text("SELECT 1"))
    raw = await uow.conn.get_raw_connection()
    return raw.driver_connection.is_in_transaction()


async def test_a_reading_unit_of_work_runs_outside_a_transaction(engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(engine, FrozenClock(NOW)).reading() as uow:
        assert not await in_transaction_after_a_query(uow)
    async with SqlUnitOfWork(engine, FrozenClock(NOW)) as uow:
        assert await in_transaction_after_a_query(uow)


async def test_a_reading_unit_of_work_refuses_to_commit(engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(engine, FrozenClock(NOW)).reading() as uow:
        with pytest.raises(RuntimeError, match="nothing to commit"):
            await uow.commit()
