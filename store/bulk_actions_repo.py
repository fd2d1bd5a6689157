"""Bulk actions' persistence: created once per operator and key, claimed under a lease by
one replica at a time (SKIP LOCKED), their progress saved after each run."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from store.tables import BulkAction

_bulk = BulkAction.__table__


class SqlBulkActions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def create(
        self,
        *,
        operator: str,
        key: str,
        action: str,
        filter: dict[str, Any],
        reason: str,
        matched: int,
        now: datetime,
    ) -> tuple[RowMapping, bool]:
        """The bulk action under (operator, key): the new one, or the one made before with
        that key; True when this call made it."""
        made = await self._conn.execute(
            pg_insert(_bulk)
            .values(
                id=uuid.uuid4(),
                operator=operator,
                idempotency_key=key,
                action=action,
                filter=filter,
                reason=reason,
                matched=matched,
                state="running",
                done=0,
                skipped=0,
                failed=0,
                created_at=now,
            )
            .on_conflict_do_nothing(constraint="uq_bulk_actions_key")
            .returning(_bulk.c.id)
        )
        created = made.first() is not None
        row = (
            (
                await self._conn.execute(
                    select(_bulk).where(
                        _bulk.c.operator == operator, _bulk.c.idempotency_key == key
                    )
                )
            )
            .mappings()
            .one()
        )
        return row, created

    async def get(self, bulk_id: uuid.UUID) -> RowMapping | None:
        return (
            (await self._conn.execute(select(_bulk).where(_bulk.c.id == bulk_id)))
            .mappings()
            .first()
        )

    async def recent(self, limit: int) -> list[RowMapping]:
        statement = (
            select(_bulk).order_by(_bulk.c.created_at.desc(), _bulk.c.id.desc()).limit(limit)
        )
        return list((await self._conn.execute(statement)).mappings())

    async def claim(self, *, now: datetime, lease: timedelta) -> RowMapping | None:
        """A running bulk action no replica holds, now held by this one until the lease ends."""
        rows = await self._conn.execute(
            text(
                "UPDATE bulk_actions SET lease_until = :until WHERE id = ("
                "SELECT id FROM bulk_actions WHERE state = 'running' AND (lease_until IS NULL "
                "OR lease_until < :now) ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "RETURNING *"
            ),
            {"now": now, "until": now + lease},
        )
        return rows.mappings().first()

    async def advance(
        self,
        bulk_id: uuid.UUID,
        *,
        after: tuple[datetime, str],
        outcome: str,
        now: datetime,
        lease: timedelta,
    ) -> None:
        """One more run handled (`outcome`: done, skipped or failed); the lease renewed."""
        column = _bulk.c[outcome]
        await self._conn.execute(
            update(_bulk)
            .where(_bulk.c.id == bulk_id)
            .values(
                {
                    column: column + 1,
                    _bulk.c.after_at: after[0],
                    _bulk.c.after_id: after[1],
                    _bulk.c.lease_until: now + lease,
                }
            )
        )

    async def release(self, bulk_id: uuid.UUID) -> None:
        """Let go of the lease after a batch, for the next claim (this replica's or not)."""
        await self._conn.execute(
            update(_bulk).where(_bulk.c.id == bulk_id).values(lease_until=None)
        )

    async def finish(self, bulk_id: uuid.UUID, *, now: datetime) -> None:
        await self._conn.execute(
            update(_bulk)
            .where(_bulk.c.id == bulk_id)
            .values(state="done", finished_at=now, lease_until=None)
        )
