"""Both ends of the outbox. The relay claims committed, unpublished events and marks them sent;
consumers record each event they handle (their inbox), so a redelivery is recognised."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import TASK_EVENTS
from store.tables import OutboxEvent, ProcessedEvent

_outbox = OutboxEvent.__table__


async def claim_unpublished(conn: AsyncConnection, limit: int) -> Sequence[Any]:
    """The oldest unpublished rows, locked until the transaction ends. SKIP LOCKED lets
    several relays (one per replica) share the backlog without publishing a row twice at once."""
    result = await conn.execute(
        select(_outbox.c.id, _outbox.c.event_id, _outbox.c.topic, _outbox.c.payload)
        .where(_outbox.c.published_at.is_(None))
        .order_by(_outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return result.all()


async def mark_published(conn: AsyncConnection, ids: Sequence[int]) -> None:
    await conn.execute(update(_outbox).where(_outbox.c.id.in_(ids)).values(published_at=func.now()))


async def task_events_after(
    conn: AsyncConnection, user_id: str, event_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    """The caller's task events recorded after `event_id` (none if it is unknown): what a
    reconnecting change-feed client missed."""
    since = (
        select(_outbox.c.id)
        .where(_outbox.c.event_id == event_id, _outbox.c.user_id == user_id)
        .scalar_subquery()
    )
    result = await conn.execute(
        select(_outbox.c.payload)
        .where(
            _outbox.c.user_id == user_id,
            _outbox.c.topic == TASK_EVENTS,
            _outbox.c.id > since,
        )
        .order_by(_outbox.c.id)
        .limit(limit)
    )
    return list(result.scalars())


async def first_delivery(conn: AsyncConnection, consumer: str, event_id: uuid.UUID) -> bool:
    """Record that `consumer` handles `event_id`; False if it already has. A concurrent
    delivery of the same event waits on the row lock here, then sees it handled."""
    table = ProcessedEvent.__table__
    result = await conn.execute(
        insert(table)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    return result.first() is not None
