"""A consumer's lag on a real PostgreSQL: the published events that reach it and that it
has not handled, dead letters that were not redriven excepted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import AUDIT, LIVE, NOTIFIER, SUBSCRIBED, sources
from store.uow import SqlUnitOfWork
from tests.clocks import FrozenClock

NOW = datetime.now(UTC)
SINCE = NOW - timedelta(hours=1)


async def published(engine: AsyncEngine, topic: str, ago: timedelta, redrive: str | None = None):
    event_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (event_id, topic, type, user_id, payload, published_at, "
                "redrive_topic) VALUES (:e, :t, 'TaskCreated', 'u1', '{}', :at, :r)"
            ),
            {"e": event_id, "t": topic, "at": NOW - ago, "r": redrive},
        )
    return event_id


async def handled(engine: AsyncEngine, consumer: str, event_id: uuid.UUID) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO processed_events (consumer, event_id) VALUES (:c, :e)"),
            {"c": consumer, "e": event_id},
        )


async def dead_letter(engine: AsyncEngine, event_id: uuid.UUID, state: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO dead_letters (id, event_id, topic, event, reason, first_seen, "
                "last_seen, attempts, state) VALUES (:id, :e, 'task-events', '{}', 'x', :at, "
                ":at, 1, :s)"
            ),
            {"id": uuid.uuid4(), "e": str(event_id), "at": NOW, "s": state},
        )


async def lag(engine: AsyncEngine, consumer: str) -> tuple[int, datetime | None]:
    topics = SUBSCRIBED[consumer]
    async with SqlUnitOfWork(engine, FrozenClock(NOW)).reading() as uow:
        row = await uow.ops_health.consumer(
            consumer, sources=sources(topics), subscribed=list(topics), since=SINCE
        )
    return row["behind"], row["oldest_behind"]


async def test_lag_counts_what_reaches_a_consumer_and_it_has_not_handled(
    engine: AsyncEngine,
) -> None:
    oldest = await published(engine, "task-events", timedelta(minutes=20))
    done = await published(engine, "task-events", timedelta(minutes=10))
    await published(engine, "task-events", timedelta(minutes=5))
    await published(engine, "reminders", timedelta(minutes=3))
    await published(engine, "task-events", timedelta(hours=2))  # before the window
    for consumer in (AUDIT, NOTIFIER, LIVE):
        await handled(engine, consumer, done)
    await handled(engine, AUDIT, oldest)

    assert await lag(engine, AUDIT) == (1, NOW - timedelta(minutes=5))
    # the notifier reads reminders too; live reads task-events through task-updates
    assert await lag(engine, NOTIFIER) == (3, NOW - timedelta(minutes=20))
    assert await lag(engine, LIVE) == (2, NOW - timedelta(minutes=20))


async def test_dead_letters_count_only_once_redriven_and_only_where_they_went(
    engine: AsyncEngine,
) -> None:
    kept = await published(engine, "task-events", timedelta(minutes=8))
    await dead_letter(engine, kept, "kept")
    redriven = await published(engine, "task-events", timedelta(minutes=4), redrive="task-updates")
    await dead_letter(engine, redriven, "redriven")

    assert await lag(engine, AUDIT) == (0, None)  # the redrive goes to task-updates alone
    assert await lag(engine, LIVE) == (1, NOW - timedelta(minutes=4))
    await handled(engine, LIVE, redriven)
    assert await lag(engine, LIVE) == (0, None)
