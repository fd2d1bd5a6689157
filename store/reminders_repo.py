"""Reminders, read with the task they belong to: a reminder fires only while its task is
open, and its fire time is explained by the task's due time and zone."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

_REMINDER = (
    "SELECT r.id, r.task_id, r.before_minutes, r.at, r.fire_at, r.state, t.title, t.due_at, "
    "t.timezone, t.status, t.version FROM reminders r JOIN tasks t ON t.id = r.task_id "
    "WHERE r.user_id = :u"
)


# A reminder (r) of a task (t) that can fire: pending, its task open, and not in a paused
# series (a paused series' reminders wait for it to resume).
_CAN_FIRE = (
    "r.state = 'pending' AND t.status = 'open' AND NOT EXISTS "
    "(SELECT 1 FROM series s WHERE s.id = t.series_id AND s.state = 'paused')"
)


class SqlReminders:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(
        self, user_id: str, reminder_id: uuid.UUID, *, lock: bool = False
    ) -> RowMapping | None:
        sql = _REMINDER + " AND r.id = :id" + (" FOR UPDATE OF r" if lock else "")
        result = await self._conn.execute(text(sql), {"u": user_id, "id": reminder_id})
        return result.mappings().first()

    async def reschedule(self, reminder_id: uuid.UUID, fire_at: datetime) -> None:
        await self._conn.execute(
            text("UPDATE reminders SET fire_at = :f, state = 'pending' WHERE id = :id"),
            {"f": fire_at, "id": reminder_id},
        )

    async def touch_task(self, task_id: uuid.UUID, at: datetime) -> None:
        await self._conn.execute(
            text("UPDATE tasks SET version = version + 1, updated_at = :now WHERE id = :t"),
            {"now": at, "t": task_id},
        )

    async def upcoming(
        self, user_id: str, *, until: datetime | None, limit: int
    ) -> Sequence[RowMapping]:
        sql = _REMINDER + " AND " + _CAN_FIRE
        params: dict[str, Any] = {"u": user_id, "limit": limit}
        if until is not None:
            sql += " AND r.fire_at <= :until"
            params["until"] = until
        result = await self._conn.execute(text(sql + " ORDER BY r.fire_at LIMIT :limit"), params)
        return result.mappings().all()

    async def pending(self, user_id: str, task_ids: list[uuid.UUID] | None) -> Sequence[RowMapping]:
        sql = (
            "SELECT r.id, r.task_id, r.fire_at FROM reminders r JOIN tasks t ON t.id = r.task_id "
            "WHERE r.user_id = :u AND " + _CAN_FIRE
        )
        params: dict[str, Any] = {"u": user_id}
        if task_ids is not None:
            sql += " AND r.task_id = ANY(:ids)"
            params["ids"] = task_ids
        return (await self._conn.execute(text(sql), params)).mappings().all()

    async def users_with_pending(self, *, after: str, limit: int) -> list[str]:
        sql = (
            "SELECT DISTINCT r.user_id FROM reminders r JOIN tasks t ON t.id = r.task_id "
            "WHERE " + _CAN_FIRE + " AND r.user_id > :after "
            "ORDER BY r.user_id LIMIT :limit"
        )
        result = await self._conn.execute(text(sql), {"after": after, "limit": limit})
        return list(result.scalars())

    async def mark_sent(
        self, user_id: str, reminder_id: uuid.UUID, fire_at: datetime, at: datetime
    ) -> RowMapping | None:
        """The conditional update is the dedupe: a second delivery of the same fire time, a
        moved (snoozed) reminder, a closed task or a paused series change no row."""
        result = await self._conn.execute(
            text(
                "UPDATE reminders r SET state = 'sent', sent_at = :now FROM tasks t "
                "WHERE r.id = :id AND r.user_id = :u AND r.fire_at = :f "
                "AND t.id = r.task_id AND " + _CAN_FIRE + " "
                "RETURNING r.task_id, r.before_minutes, t.title, t.due_at, t.timezone"
            ),
            {"id": reminder_id, "u": user_id, "f": fire_at, "now": at},
        )
        return result.mappings().first()
