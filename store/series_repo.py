"""Series rows: a definition read with what its tasks say of it, state changes, EXDATEs."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection


class SqlSeries:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def definition(self, series_id: uuid.UUID) -> RowMapping | None:
        result = await self._conn.execute(
            text(
                "SELECT s.*, (SELECT count(*) FROM tasks t WHERE t.series_id = s.id) AS n, "
                "o.id AS open_id, o.occurrence_index AS open_index, o.due_at AS open_due "
                "FROM series s LEFT JOIN LATERAL (SELECT id, occurrence_index, due_at "
                "FROM tasks WHERE series_id = s.id AND status = 'open' "
                "ORDER BY occurrence_index DESC LIMIT 1) o ON true WHERE s.id = :id"
            ),
            {"id": series_id},
        )
        return result.mappings().first()

    async def set_state(self, user_id: str, series_id: uuid.UUID, state: str) -> None:
        await self._conn.execute(
            text(
                "UPDATE series SET state = :state, updated_at = now() "
                "WHERE user_id = :_u AND id = :_id"
            ),
            {"state": state, "_u": user_id, "_id": series_id},
        )

    async def add_exdate(self, user_id: str, series_id: uuid.UUID, local: datetime) -> None:
        await self._conn.execute(
            text(
                "UPDATE series SET exdates = array_append(exdates, :d), updated_at = now() "
                "WHERE id = :id AND user_id = :u AND NOT (:d = ANY(exdates))"
            ),
            {"d": local, "id": series_id, "u": user_id},
        )
