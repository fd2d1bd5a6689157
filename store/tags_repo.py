"""Tags and which tasks carry them. Tag names are unique per user case-insensitively
(uq_tags_user_name), so every lookup by name compares lower(name)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection


class SqlTags:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def counts(self, user_id: str) -> Sequence[RowMapping]:
        result = await self._conn.execute(
            text(
                "SELECT g.name, count(tt.task_id) AS count FROM tags g "
                "LEFT JOIN task_tags tt ON tt.tag_id = g.id WHERE g.user_id = :u "
                "GROUP BY g.id, g.name ORDER BY lower(g.name)"
            ),
            {"u": user_id},
        )
        return result.mappings().all()

    async def find(self, user_id: str, name: str) -> uuid.UUID | None:
        result = await self._conn.execute(
            text("SELECT id FROM tags WHERE user_id = :u AND lower(name) = lower(:n)"),
            {"u": user_id, "n": name},
        )
        return result.scalar()

    async def rename(self, tag_id: uuid.UUID, name: str) -> None:
        await self._conn.execute(
            text("UPDATE tags SET name = :n WHERE id = :id"), {"n": name, "id": tag_id}
        )

    async def merge(self, source: uuid.UUID, target: uuid.UUID) -> None:
        await self._conn.execute(
            text(
                "INSERT INTO task_tags (task_id, tag_id) SELECT task_id, :t FROM task_tags "
                "WHERE tag_id = :s ON CONFLICT DO NOTHING"
            ),
            {"t": target, "s": source},
        )
        await self.delete(source)

    async def delete(self, tag_id: uuid.UUID) -> None:
        await self._conn.execute(text("DELETE FROM tags WHERE id = :s"), {"s": tag_id})

    async def task_ids(self, tag_id: uuid.UUID) -> list[uuid.UUID]:
        result = await self._conn.execute(
            text("SELECT task_id FROM task_tags WHERE tag_id = :t ORDER BY task_id"),
            {"t": tag_id},
        )
        return list(result.scalars())

    async def count_tasks(self, tag_id: uuid.UUID) -> int:
        result = await self._conn.execute(
            text("SELECT count(*) FROM task_tags WHERE tag_id = :t"), {"t": tag_id}
        )
        return result.scalar_one()

    async def touch_tasks(self, user_id: str, tag_id: uuid.UUID, at: datetime) -> list[uuid.UUID]:
        result = await self._conn.execute(
            text(
                "UPDATE tasks SET version = version + 1, updated_at = :now WHERE user_id = :u "
                "AND id IN (SELECT task_id FROM task_tags WHERE tag_id = :t) RETURNING id"
            ),
            {"u": user_id, "t": tag_id, "now": at},
        )
        return [task_id for (task_id,) in result]
