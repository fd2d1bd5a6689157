"""In-app notifications, kept from task and reminder events, and read by their user."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import NotFound
from domain.events import NOTIFIER, Event
from service import webhooks
from service.unit_of_work import UnitOfWork

CONSUMER = NOTIFIER
# What a user is told about; plain edits (task.updated) would only be noise.
LABELS = {
    "task.created": "Task created",
    "task.completed": "Task completed",
    "task.skipped": "Occurrence skipped",
    "task.deleted": "Task deleted",
    "task.completion_failed": "Completion failed",
    "reminder.due": "Reminder",
}


class NotificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unread: bool = False
    limit: int = Field(50, ge=1, le=200)


class NotificationPublic(BaseModel):
    id: uuid.UUID
    task_id: uuid.UUID
    event_id: uuid.UUID
    kind: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationPublic]


async def notify(uow: UnitOfWork, event: Event) -> bool:
    """Inside the caller's open transaction: store the notification `event` calls for, once,
    and schedule its webhook delivery. False when nothing is left to deliver: first handling,
    and the user has no webhook. (A redelivered event may still have a delivery pending, so
    it answers True.)"""
    if not await uow.inbox.first_delivery(CONSUMER, event.event_id):
        return True
    label = LABELS.get(event.type)
    if label is None:
        return False
    subject = await _subject(uow, event)
    await uow.notifications.add(
        notification_id=uuid.uuid4(),
        user_id=event.user_id,
        task_id=event.task_id,
        event_id=event.event_id,
        kind=event.type,
        title=f"{label}: {subject}",
        body=_body(event, subject),
    )
    return await webhooks.schedule(uow, event)


async def _subject(uow: UnitOfWork, event: Event) -> str:
    """The task's title; a deleted task is named by its id."""
    title = event.data.get("title") or await uow.notifications.task_title(
        event.user_id, event.task_id
    )
    return str(title) if title else f"task {event.task_id}"


def _body(event: Event, subject: str) -> str:
    if event.type == "reminder.due":
        return f"{subject} — reminder for {event.data.get('fire_at', 'now')}"
    if event.type == "task.completion_failed":
        return f"{subject} could not be completed: {event.data.get('reason', 'unknown reason')}"
    return f"{LABELS[event.type]} at {event.occurred_at.isoformat()}"


async def list_notifications(
    uow: UnitOfWork, user_id: str, query: NotificationQuery
) -> NotificationPage:
    """Newest first."""
    async with uow.reading():
        rows = await uow.notifications.newest(user_id, unread=query.unread, limit=query.limit)
    return NotificationPage(items=[NotificationPublic.model_validate(dict(r)) for r in rows])


async def mark_read(
    uow: UnitOfWork, user_id: str, notification_id: uuid.UUID
) -> NotificationPublic:
    """Idempotent: reading twice keeps the first read time."""
    async with uow:
        row = await uow.notifications.mark_read(user_id, notification_id, uow.now())
        if row is None:
            raise NotFound(f"notification {notification_id} does not exist")
        await uow.commit()
    return NotificationPublic.model_validate(dict(row))
