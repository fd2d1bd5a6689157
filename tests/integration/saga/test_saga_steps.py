"""The saga's steps against a real PostgreSQL: a step that runs again after its commit (a
worker crash before its reply, an activity retry) changes nothing and records nothing twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from domain.tasks import Status, occurrence_id
from service import occurrences as rules
from service.schemas import TaskCreate
from service.tasks import create_task
from store.database import create_engine, migrate, plain_url
from store.uow import SqlUnitOfWork
from tests.clocks import FrozenClock

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


async def test_recording_the_next_occurrence_twice_creates_and_publishes_it_once(
    make_database,
) -> None:
    url = await make_database("steps")
    await asyncio.to_thread(migrate, url)
    engine = create_engine(url, pool_size=2)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, FrozenClock(NOW))

    try:
        body = {"title": "water plants", "due_at": "2027-01-05T09:00:00Z"}
        body["recurrence"] = {"rrule": "FREQ=DAILY"}
        task = await create_task(uow(), "ann", TaskCreate.model_validate(body), None)
        request = rules.CloseRequest(user_id="ann", task_id=task.id, status=Status.COMPLETED)
        async with uow() as unit:
            closed, row = await rules.close(unit, request)
            await unit.commit()
        upcoming = rules.NextOccurrence(index=1, due_at=datetime(2027, 1, 6, 9, tzinfo=UTC))
        answer = rules.NextAnswer(next=upcoming, ended=False)
        recorded = []
        for _ in range(2):  # the step again after its commit, as an activity retry runs it
            async with uow() as unit:
                recorded.append((await rules.record_next(unit, closed, row, answer)).next.id)
                await unit.commit()
        first, again = recorded
    finally:
        await engine.dispose()

    assert first == again == occurrence_id(closed.series_id, 1)
    conn = await asyncpg.connect(plain_url(url))
    try:
        kinds = await conn.fetch(
            "SELECT type, count(*) AS n FROM outbox WHERE user_id = 'ann' GROUP BY type"
        )
    finally:
        await conn.close()
    assert {r["type"]: r["n"] for r in kinds} == {"task.created": 2, "task.completed": 1}
