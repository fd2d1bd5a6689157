"""The audit trail's rows: appended once per task event, read newest first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from store.tables import AuditEntry

_log = AuditEntry.__table__


class SqlAuditLog:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        user_id: str,
        task_id: uuid.UUID,
        event_id: uuid.UUID,
        action: str,
        actor: str,
        at: datetime,
        details: dict[str, Any],
    ) -> None:
        await self._conn.execute(
            insert(_log).values(
                user_id=user_id,
                task_id=task_id,
                event_id=event_id,
                action=action,
                actor=actor,
                at=at,
                details=details,
            )
        )

    async def newest(
        self, user_id: str, *, task_id: uuid.UUID | None, limit: int
    ) -> Sequence[RowMapping]:
        statement = select(_log).where(_log.c.user_id == user_id)
        if task_id is not None:
            statement = statement.where(_log.c.task_id == task_id)
        statement = statement.order_by(_log.c.at.desc(), _log.c.id.desc()).limit(limit)
        return (await self._conn.execute(statement)).mappings().all()
