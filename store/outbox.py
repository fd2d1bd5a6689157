"""Both ends of the outbox. The relay claims committed, unpublished events and marks them sent;
consumers record each event they handle (their inbox), so a redelivery is recognised."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import TASK_EVENTS, Event
from store.tables import OutboxEvent, ProcessedEvent
from telemetry.tracing import current_traceparent

_outbox = OutboxEvent.__table__


def row(event: Event) -> dict[str, Any]:
    """The outbox row that carries `event`, in the trace of the code writing it."""
    return {
        "event_id": event.event_id,
        "topic": event.topic,
        "type": event.type,
        "user_id": event.user_id,
        "payload": event.model_dump(mode="json"),
        "trace_parent": current_traceparent(),
    }


async def claim_unpublished(conn: AsyncConnection, limit: int) -> Sequence[Any]:
    """The oldest unpublished rows, locked until the transaction ends. SKIP LOCKED lets
    several relays (one per replica) share the backlog without publishing a row twice at once."""
    result = await conn.execute(
        select(
            _outbox.c.id,
            _outbox.c.event_id,
            _outbox.c.topic,
            _outbox.c.payload,
            _outbox.c.redrive_topic,
            _outbox.c.trace_parent,
        )
        .where(_outbox.c.published_at.is_(None))
        .order_by(_outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return result.all()


async def requeue_for_redrive(conn: AsyncConnection, event: Event, topic: str) -> None:
    """Publish `event` again, with its own id, to `topic` alone: a dead letter's redrive.

    Its outbox row, if housekeeping has not deleted it yet, is marked unpublished again,
    keeping its place in the change feed; otherwise the event gets a new row. A row that is
    still unpublished is left alone: the relay has yet to send it to all of its topics, the
    dead-lettering one among them, and narrowing it to one topic would lose the others."""
    statement = insert(_outbox).values(**row(event), redrive_topic=topic)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["event_id"],
            set_={"published_at": None, "redrive_topic": topic},
            where=_outbox.c.published_at.is_not(None),
        )
    )


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


class SqlInbox:
    """The consumers' side, for a unit of work."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        # per consumer: the ids `claim` recorded, and which of them were new
        self._claimed: dict[str, tuple[set[uuid.UUID], set[uuid.UUID]]] = {}

    async def claim(self, consumer: str, event_ids: Sequence[uuid.UUID]) -> None:
        """One statement for a batch's first_delivery calls; ids in a fixed order, so two
        overlapping deliveries lock their rows in the same order."""
        ids = sorted(set(event_ids))
        if not ids:
            return
        table = ProcessedEvent.__table__
        result = await self._conn.execute(
            insert(table)
            .values([{"consumer": consumer, "event_id": i} for i in ids])
            .on_conflict_do_nothing()
            .returning(table.c.event_id)
        )
        self._claimed[consumer] = (set(ids), set(result.scalars()))

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        asked, new = self._claimed.get(consumer, (set(), set()))
        if event_id in asked:  # answered once from the claim, as one INSERT would have
            asked.discard(event_id)
            return event_id in new
        return await first_delivery(self._conn, consumer, event_id)


class SqlOutbox:
    """The producers' side, for a unit of work (the commit writes recorded events itself)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def requeue_for_redrive(self, event: Event, topic: str) -> None:
        await requeue_for_redrive(self._conn, event, topic)

    async def of_tasks(
        self, user_id: str, task_ids: Sequence[uuid.UUID], limit: int
    ) -> Sequence[RowMapping]:
        """The events recorded about these tasks of the user's, oldest first (as far as the
        outbox still keeps them: housekeeping prunes published ones)."""
        statement = (
            select(
                _outbox.c.event_id,
                _outbox.c.type,
                _outbox.c.topic,
                _outbox.c.created_at,
                _outbox.c.published_at,
                _outbox.c.payload["task_id"].astext.label("task_id"),
            )
            .where(
                _outbox.c.user_id == user_id,
                _outbox.c.payload["task_id"].astext.in_([str(t) for t in task_ids]),
            )
            .order_by(_outbox.c.id)
            .limit(limit)
        )
        return (await self._conn.execute(statement)).mappings().all()
