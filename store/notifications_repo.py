"""In-app notifications' rows: one per event, read newest first, marked read once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from store.tables import Notification, Task

_notes = Notification.__table__
_tasks = Task.__table__


class SqlNotifications:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        notification_id: uuid.UUID,
        user_id: str,
        task_id: uuid.UUID,
        event_id: uuid.UUID,
        kind: str,
        title: str,
        body: str,
    ) -> None:
        await self._conn.execute(
            insert(_notes).values(
                id=notification_id,
                user_id=user_id,
                task_id=task_id,
                event_id=event_id,
                kind=kind,
                title=title,
                body=body,
            )
        )

    async def task_title(self, user_id: str, task_id: uuid.UUID) -> str | None:
        """A notification names its task; the task is read here, not through the tasks
        repository, because this is all a notification needs of it."""
        return await self._conn.scalar(
            select(_tasks.c.title).where(_tasks.c.id == task_id, _tasks.c.user_id == user_id)
        )

    async def newest(self, user_id: str, *, unread: bool, limit: int) -> Sequence[RowMapping]:
        statement = select(_notes).where(_notes.c.user_id == user_id)
        if unread:
            statement = statement.where(_notes.c.read_at.is_(None))
        statement = statement.order_by(_notes.c.created_at.desc(), _notes.c.id.desc())
        return (await self._conn.execute(statement.limit(limit))).mappings().all()

    async def mark_read(
        self, user_id: str, notification_id: uuid.UUID, at: datetime
    ) -> RowMapping | None:
        result = await self._conn.execute(
            update(_notes)
            .where(_notes.c.id == notification_id, _notes.c.user_id == user_id)
            .values(read_at=func.coalesce(_notes.c.read_at, at))
            .returning(*_notes.c)
        )
        return result.mappings().first()
