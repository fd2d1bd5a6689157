"""Dead letters and their redrive on a real PostgreSQL: one row per CloudEvent id whatever
arrives again, and a redrive that reopens the event's outbox row rather than being ignored
as a repeated event id."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import TASK_EVENTS, TASK_UPDATES, TaskCreated
from store import dead_letters_repo as repo
from store import outbox
from store.tables import DeadLetter, OutboxEvent

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
_dead, _outbox = DeadLetter.__table__, OutboxEvent.__table__


async def keep(engine: AsyncEngine, event_id: str, at: datetime, topic: str | None) -> int:
    async with engine.begin() as conn:
        return await repo.keep(
            conn,
            event_id=event_id,
            topic=topic,
            event={"id": event_id, "topic": topic},
            reason="none given",
            now=at,
        )


async def row(engine: AsyncEngine, event_id: str) -> dict:
    async with engine.connect() as conn:
        rows = (
            (await conn.execute(select(_dead).where(_dead.c.event_id == event_id))).mappings().all()
        )
    assert len(rows) == 1
    return dict(rows[0])


async def settle(engine: AsyncEngine, event_id: str, state: str) -> None:
    async with engine.begin() as conn:
        found = await row(engine, event_id)
        await repo.settle(conn, found["id"], state=state, by="ops", at=T0)


async def test_an_event_that_arrives_again_adds_to_one_row(engine: AsyncEngine) -> None:
    assert await keep(engine, "e-1", T0, TASK_EVENTS) == 1
    later = T0 + timedelta(minutes=5)
    assert await keep(engine, "e-1", later, None) == 2  # a later arrival with no topic
    kept = await row(engine, "e-1")
    assert (kept["attempts"], kept["first_seen"], kept["last_seen"]) == (2, T0, later)
    assert kept["topic"] == TASK_EVENTS  # what was known is not forgotten
    assert kept["state"] == repo.KEPT


async def test_concurrent_arrivals_of_one_event_make_one_row(engine: AsyncEngine) -> None:
    counts = await asyncio.gather(*(keep(engine, "e-race", T0, TASK_EVENTS) for _ in range(2)))
    assert sorted(counts) == [1, 2]
    assert (await row(engine, "e-race"))["attempts"] == 2


async def test_a_redriven_event_that_fails_again_is_kept_again(engine: AsyncEngine) -> None:
    await keep(engine, "e-2", T0, TASK_EVENTS)
    await settle(engine, "e-2", repo.REDRIVEN)
    await keep(engine, "e-2", T0 + timedelta(minutes=1), TASK_EVENTS)
    again = await row(engine, "e-2")
    assert (again["state"], again["attempts"], again["settled_by"]) == (repo.KEPT, 2, None)


async def test_a_discarded_event_stays_discarded(engine: AsyncEngine) -> None:
    await keep(engine, "e-3", T0, TASK_EVENTS)
    await settle(engine, "e-3", repo.DISCARDED)
    await keep(engine, "e-3", T0 + timedelta(minutes=1), TASK_EVENTS)
    still = await row(engine, "e-3")
    assert (still["state"], still["attempts"], still["settled_by"]) == (
        repo.DISCARDED,
        2,
        "ops",
    )


def task_created() -> TaskCreated:
    return TaskCreated(occurred_at=T0, user_id="u", task_id=uuid.uuid4())


async def in_outbox(engine: AsyncEngine, *, published_at: datetime | None) -> TaskCreated:
    event = task_created()
    async with engine.begin() as conn:
        await conn.execute(_outbox.insert().values(**outbox.row(event), published_at=published_at))
    return event


async def outbox_rows(engine: AsyncEngine, event: TaskCreated) -> list[dict]:
    async with engine.connect() as conn:
        result = await conn.execute(
            select(_outbox.c.id, _outbox.c.published_at, _outbox.c.redrive_topic).where(
                _outbox.c.event_id == event.event_id
            )
        )
        return [dict(r) for r in result.mappings()]


async def test_a_redrive_reopens_the_published_row_for_the_one_topic(
    engine: AsyncEngine,
) -> None:
    event = await in_outbox(engine, published_at=T0)
    (before,) = await outbox_rows(engine, event)
    async with engine.begin() as conn:
        await outbox.requeue_for_redrive(conn, event, TASK_EVENTS)
    assert await outbox_rows(engine, event) == [
        {"id": before["id"], "published_at": None, "redrive_topic": TASK_EVENTS}
    ]


async def test_a_redrive_of_a_pruned_event_writes_it_anew(engine: AsyncEngine) -> None:
    event = task_created()
    async with engine.begin() as conn:
        await outbox.requeue_for_redrive(conn, event, TASK_UPDATES)
    (added,) = await outbox_rows(engine, event)
    assert (added["published_at"], added["redrive_topic"]) == (None, TASK_UPDATES)


async def test_a_redrive_leaves_an_unpublished_row_to_go_to_all_its_topics(
    engine: AsyncEngine,
) -> None:
    event = await in_outbox(engine, published_at=None)
    async with engine.begin() as conn:
        await outbox.requeue_for_redrive(conn, event, TASK_UPDATES)
    (pending,) = await outbox_rows(engine, event)
    assert (pending["published_at"], pending["redrive_topic"]) == (None, None)
