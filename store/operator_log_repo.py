"""The operator audit log's persistence: appended to, paged newest first."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from store.tables import OperatorAction

_log = OperatorAction.__table__


class SqlOperatorLog:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def record(
        self, *, operator: str, action: str, target: str, reason: str, at: datetime, outcome: str
    ) -> uuid.UUID:
        entry_id = uuid.uuid4()
        await self._conn.execute(
            insert(_log).values(
                id=entry_id,
                operator=operator,
                action=action,
                target=target,
                reason=reason,
                at=at,
                outcome=outcome,
            )
        )
        return entry_id

    async def page(
        self, *, target: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[RowMapping]:
        """Newest first (by time, then id), after the keyset `after`."""
        statement = select(_log)
        if target is not None:
            statement = statement.where(_log.c.target == target)
        if after is not None:
            at, entry_id = after
            statement = statement.where(
                or_(_log.c.at < at, and_(_log.c.at == at, _log.c.id < entry_id))
            )
        statement = statement.order_by(_log.c.at.desc(), _log.c.id.desc()).limit(limit)
        return list((await self._conn.execute(statement)).mappings())
