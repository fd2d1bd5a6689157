"""The audit trail: who did what to which task, and when, kept from the task events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select

from domain.events import Event
from store.outbox import first_delivery
from store.tables import AuditEntry
from store.uow import SqlUnitOfWork

CONSUMER = "audit"
_log = AuditEntry.__table__


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: uuid.UUID | None = None
    limit: int = Field(50, ge=1, le=200)


class AuditRecord(BaseModel):
    task_id: uuid.UUID
    event_id: uuid.UUID
    action: str
    actor: str
    at: datetime
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditRecord]


async def record(uow: SqlUnitOfWork, event: Event) -> bool:
    """Append `event` to the trail once, inside the caller's open transaction; False when it
    was already there."""
    if not await first_delivery(uow.conn, CONSUMER, event.event_id):
        return False
    await uow.conn.execute(
        insert(_log).values(
            user_id=event.user_id,
            task_id=event.task_id,
            event_id=event.event_id,
            action=event.type,
            # events carry the acting user; system actors name themselves in the data
            actor=str(event.data.get("actor") or event.user_id),
            at=event.occurred_at,
            details=event.data,
        )
    )
    return True


async def list_entries(uow: SqlUnitOfWork, user_id: str, query: AuditQuery) -> AuditPage:
    """The caller's trail, newest first, optionally for one task."""
    statement = select(_log).where(_log.c.user_id == user_id)
    if query.task_id is not None:
        statement = statement.where(_log.c.task_id == query.task_id)
    statement = statement.order_by(_log.c.at.desc(), _log.c.id.desc()).limit(query.limit)
    async with uow:
        rows = (await uow.conn.execute(statement)).mappings().all()
    return AuditPage(items=[AuditRecord.model_validate(dict(row)) for row in rows])
