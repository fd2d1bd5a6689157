"""The SQL repositories behind the reminder, tag and series use cases, on a real PostgreSQL:
the same use cases the unit tests run on the fake (tests/unit/service/), so the two agree."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service import reminders, series, tags
from store.tables import Reminder, Series, Tag, Task, TaskTag
from store.uow import SqlUnitOfWork
from tests.clocks import FrozenClock

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
_tasks, _reminders, _tags = Task.__table__, Reminder.__table__, Tag.__table__


@pytest.fixture
def uow(engine: AsyncEngine) -> SqlUnitOfWork:
    return SqlUnitOfWork(engine, FrozenClock(NOW))


async def add_task(engine: AsyncEngine, user_id: str, **values) -> uuid.UUID:
    task_id = uuid.uuid4()
    row = {"description": "", "status": "open", "timezone": "UTC", **values}
    async with engine.begin() as conn:
        await conn.execute(
            insert(_tasks).values(id=task_id, user_id=user_id, title="Dentist", priority=2, **row)
        )
    return task_id


async def add_reminder(engine: AsyncEngine, user_id: str, task_id: uuid.UUID, fire_at) -> uuid.UUID:
    reminder_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(_reminders).values(
                id=reminder_id,
                task_id=task_id,
                user_id=user_id,
                position=0,
                before_minutes=30,
                fire_at=fire_at,
                state="pending",
            )
        )
    return reminder_id


async def tag(engine: AsyncEngine, user_id: str, task_id: uuid.UUID, name: str) -> None:
    async with engine.begin() as conn:
        tag_id = await conn.scalar(
            select(_tags.c.id).where(_tags.c.user_id == user_id, _tags.c.name == name)
        )
        if tag_id is None:
            tag_id = uuid.uuid4()
            await conn.execute(insert(_tags).values(id=tag_id, user_id=user_id, name=name))
        await conn.execute(insert(TaskTag.__table__).values(task_id=task_id, tag_id=tag_id))


async def version(engine: AsyncEngine, task_id: uuid.UUID) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(select(_tasks.c.version).where(_tasks.c.id == task_id))


async def test_a_snoozed_reminder_fires_at_its_new_time_once(
    engine: AsyncEngine, uow: SqlUnitOfWork
) -> None:
    due = NOW + timedelta(hours=2)
    task_id = await add_task(engine, "ann", due_at=due, timezone="Europe/Paris")
    old = due - timedelta(minutes=30)
    reminder_id = await add_reminder(engine, "ann", task_id, old)
    closed = await add_task(engine, "bob", due_at=due, status="completed")
    await add_reminder(engine, "bob", closed, old)

    assert [p.reminder_id for p in await reminders.pending(uow, "ann", [task_id])] == [reminder_id]
    assert await reminders.users_with_pending(uow) == ["ann"]
    [upcoming] = await reminders.list_upcoming_reminders(uow, "ann", within=timedelta(hours=3))
    assert upcoming.task_due_at == due

    out = await reminders.snooze_reminder(uow, "ann", reminder_id, minutes=10)
    assert await version(engine, task_id) == 2
    assert await reminders.fire(uow, "ann", reminder_id, old) is False
    assert await reminders.fire(uow, "bob", reminder_id, out.fire_at) is False
    assert await reminders.fire(uow, "ann", reminder_id, out.fire_at) is True
    assert await reminders.fire(uow, "ann", reminder_id, out.fire_at) is False
    explained = await reminders.explain_reminder(uow, "ann", reminder_id)
    assert (explained.state, explained.fire_at_utc) == ("sent", out.fire_at)


async def test_renaming_onto_an_existing_tag_merges_and_a_dry_run_keeps_nothing(
    engine: AsyncEngine, uow: SqlUnitOfWork
) -> None:
    both = await add_task(engine, "ann")
    job_only = await add_task(engine, "ann")
    await tag(engine, "ann", both, "job")
    await tag(engine, "ann", both, "work")
    await tag(engine, "ann", job_only, "job")
    await tag(engine, "bob", await add_task(engine, "bob"), "job")

    dry = await tags.rename_tag(uow, "ann", "JOB", "Work", dry_run=True)
    assert (dry.count, dry.merged) == (2, True)
    assert [(t.name, t.count) for t in await tags.list_tags(uow, "ann")] == [
        ("job", 2),
        ("work", 1),
    ]
    assert await version(engine, both) == 1

    merged = await tags.rename_tag(uow, "ann", "JOB", "Work")
    assert (merged.name, merged.count, merged.merged) == ("Work", 2, True)
    assert [(t.name, t.count) for t in await tags.list_tags(uow, "ann")] == [("Work", 2)]
    assert [(t.name, t.count) for t in await tags.list_tags(uow, "bob")] == [("job", 1)]
    assert await version(engine, both) == 2

    deleted = await tags.delete_tag(uow, "ann", "work")
    assert deleted.untagged_task_ids == sorted([both, job_only])
    assert await tags.list_tags(uow, "ann") == []
    assert await version(engine, job_only) == 3


async def test_a_series_definition_and_its_exdates(engine: AsyncEngine, uow: SqlUnitOfWork) -> None:
    series_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(Series.__table__).values(
                id=series_id,
                user_id="ann",
                rrule="FREQ=DAILY",
                timezone="UTC",
                dtstart=datetime(2027, 1, 4, 9, 0),
                mode="schedule",
                catch_up="skip_missed",
                state="active",
            )
        )
    await add_task(engine, "ann", series_id=series_id, occurrence_index=0, status="completed")
    latest = await add_task(engine, "ann", series_id=series_id, occurrence_index=1, due_at=NOW)

    skipped = datetime(2027, 1, 6, 9, 0)
    await series.add_exdate(uow, "ann", series_id, skipped)
    await series.add_exdate(uow, "ann", series_id, skipped)
    await series.add_exdate(uow, "bob", series_id, skipped + timedelta(days=1))
    await series.set_state(uow, "ann", series_id, "paused")

    d = await series.definition(uow, series_id)
    assert (d.open_task_id, d.open_index, d.open_due_at, d.generated) == (latest, 1, NOW, 2)
    assert (d.exdates, d.state) == ([skipped], "paused")
