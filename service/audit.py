"""The audit trail: who did what to which task, and when, kept from the task events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.events import AUDIT, Event
from service.unit_of_work import UnitOfWork

CONSUMER = AUDIT


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


async def record(uow: UnitOfWork, event: Event) -> bool:
    """Append `event` to the trail once, inside the caller's open transaction; False when it
    was already there. The actor is the user the event belongs to: every task event is
    recorded on a user's behalf, the saga's and the actors' included."""
    if not await uow.inbox.first_delivery(CONSUMER, event.event_id):
        return False
    await uow.audit.add(
        user_id=event.user_id,
        task_id=event.task_id,
        event_id=event.event_id,
        action=event.type,
        actor=event.user_id,
        at=event.occurred_at,
        details=event.data,
    )
    return True


async def list_entries(uow: UnitOfWork, user_id: str, query: AuditQuery) -> AuditPage:
    """The caller's trail, newest first, optionally for one task."""
    async with uow.reading():
        rows = await uow.audit.newest(user_id, task_id=query.task_id, limit=query.limit)
    return AuditPage(items=[AuditRecord.model_validate(dict(row)) for row in rows])
