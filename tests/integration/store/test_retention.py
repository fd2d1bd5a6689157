"""Housekeeping on a real PostgreSQL: what has outlived its use goes, in batches; what can
still matter (unpublished events, recent inbox rows and keys, pending deliveries) stays."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg

from devstack.processes import eventually
from domain.clock import SystemClock
from domain.events import TASK_EVENTS, TaskCreated
from service.retention import Retention, prune
from store.database import create_engine, migrate
from store.uow import SqlUnitOfWork

OLD, RECENT = "now() - interval '9 days'", "now() - interval '1 hour'"


async def test_pruning_keeps_what_can_still_matter(make_database) -> None:
    url = await make_database("retention")
    await asyncio.to_thread(migrate, url)
    ids = {name: uuid.uuid4() for name in ("old", "recent", "unsent", "gone", "kept", "open")}
    conn = await asyncpg.connect(url)
    try:
        for name, published in (("old", OLD), ("recent", RECENT), ("unsent", "NULL")):
            await conn.execute(
                "INSERT INTO outbox (event_id, topic, type, user_id, payload, created_at, "
                f"published_at) VALUES ($1, 'task-events', 'task.created', 'u', '{{}}', {OLD}, "
                f"{published})",
                ids[name],
            )
        for consumer in ("audit", "notifier", "live"):
            for name, at in (("old", OLD), ("recent", RECENT)):
                await conn.execute(
                    "INSERT INTO processed_events (consumer, event_id, processed_at) "
                    f"VALUES ($1, $2, {at})",
                    consumer,
                    ids[name],
                )
        for key, at in (("day-old", "now() - interval '25 hours'"), ("fresh", RECENT)):
            await conn.execute(
                "INSERT INTO idempotency_keys (user_id, key, operation, result, created_at) "
                f"VALUES ('u', $1, 'create', '{{}}', {at})",
                key,
            )
        deliveries = [  # (event, status, delivered_at)
            ("old", "204", OLD),  # delivered long ago: goes
            ("recent", "204", RECENT),  # delivered lately: stays
            ("gone", "refused", "NULL"),  # refused, its event pruned: goes
            ("unsent", "refused", "NULL"),  # refused, its event still there: stays
            ("open", None, "NULL"),  # still being attempted: stays
        ]
        for event, status, delivered in deliveries:
            await conn.execute(
                "INSERT INTO webhook_deliveries (delivery_id, event_id, user_id, attempts, "
                f"last_status, delivered_at) VALUES ($1, $2, 'u', 1, $3, {delivered})",
                uuid.uuid4(),
                ids[event],
                status,
            )

        engine = create_engine(url, pool_size=2)
        try:
            deleted = await prune(lambda: SqlUnitOfWork(engine, SystemClock()), Retention(batch=2))
        finally:
            await engine.dispose()

        assert deleted == {
            "outbox": 1,
            "processed_events": 3,
            "idempotency_keys": 1,
            "webhook_deliveries": 2,
        }
        names = {v: k for k, v in ids.items()}
        outbox = {names[r[0]] for r in await conn.fetch("SELECT event_id FROM outbox")}
        assert outbox == {"recent", "unsent"}
        inbox = {names[r[0]] for r in await conn.fetch("SELECT event_id FROM processed_events")}
        assert inbox == {"recent"}
        keys = {r[0] for r in await conn.fetch("SELECT key FROM idempotency_keys")}
        assert keys == {"fresh"}
        kept = {names[r[0]] for r in await conn.fetch("SELECT event_id FROM webhook_deliveries")}
        assert kept == {"recent", "unsent", "open"}
    finally:
        await conn.close()


async def test_an_old_event_being_redriven_is_not_pruned(make_database) -> None:
    """A dead letter's redrive marks its old outbox row unpublished again; housekeeping
    running meanwhile (on another replica, say) must skip the row, not delete it once the
    redrive commits, which would lose the redrive."""
    url = await make_database("retention")
    await asyncio.to_thread(migrate, url)
    event = TaskCreated(
        occurred_at=datetime(2027, 1, 4, tzinfo=UTC), user_id="u", task_id=uuid.uuid4()
    )
    conn = await asyncpg.connect(url)
    engine = create_engine(url, pool_size=2)
    try:
        await conn.execute(
            "INSERT INTO outbox (event_id, topic, type, user_id, payload, created_at, "
            f"published_at) VALUES ($1, 'task-events', 'task.created', 'u', $2, {OLD}, {OLD})",
            event.event_id,
            event.model_dump_json(),
        )
        async with SqlUnitOfWork(engine, SystemClock()) as redrive:
            await redrive.outbox.requeue_for_redrive(event, TASK_EVENTS)  # not committed yet
            pruning = asyncio.create_task(prune(lambda: SqlUnitOfWork(engine, SystemClock())))

            async def done_or_waiting() -> bool:
                return pruning.done() or await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                )

            await eventually(done_or_waiting, within=10, what="the prune to run into the row")
            await redrive.commit()
        deleted = await asyncio.wait_for(pruning, 10)
        row = await conn.fetchrow(
            "SELECT published_at, redrive_topic FROM outbox WHERE event_id = $1", event.event_id
        )
    finally:
        await engine.dispose()
        await conn.close()
    assert deleted["outbox"] == 0
    assert row is not None and row["published_at"] is None
    assert row["redrive_topic"] == TASK_EVENTS
