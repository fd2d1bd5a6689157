"""store.saga_runs_repo on a real PostgreSQL, through the use cases the unit tests run on the
fake (tests/unit/service/test_saga_runs.py), so the two agree: the upsert's rules, the
filters (a failure text's LIKE wildcards are literal), counts, keyset pages, the stale scan."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.saga_runs import SagaStatus, Step
from domain.tasks import Status
from service import saga_runs
from service.completion import operation_id
from service.occurrences import CloseRequest
from service.saga_runs import SagaRunQuery
from store.tables import Task
from store.uow import SqlUnitOfWork
from tests.clocks import FrozenClock

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


async def a_task(engine: AsyncEngine, user: str) -> uuid.UUID:
    task_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(Task.__table__).values(
                id=task_id, user_id=user, title="t", description="", priority=1,
                status="open", timezone="UTC", version=1,
            )
        )  # fmt: skip
    return task_id


async def test_runs_through_postgresql(engine: AsyncEngine) -> None:
    clock = FrozenClock(NOW)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, clock)

    instances, requests = [], []
    for _ in range(3):
        request = CloseRequest(
            user_id="ann", task_id=await a_task(engine, "ann"), status=Status.COMPLETED
        )
        instance = operation_id(request.task_id, 1)
        async with uow() as u:
            await saga_runs.stepping(u, request, instance, Step.ADVANCE)
            await saga_runs.scheduled(u, request, 1)  # late: stays running
            await u.commit()
        instances.append(instance)
        requests.append(request)
        clock.advance(timedelta(seconds=1))
    async with uow() as u:
        await saga_runs.failed(u, instances[0], Step.ADVANCE, "100% of _ tries failed")
        await saga_runs.failed(u, instances[1], Step.ADVANCE, "1000 tries failed")
        await saga_runs.stepping(u, requests[0], instances[0], Step.ADVANCE)  # never back
        await u.commit()

    literal = await saga_runs.list_runs(uow(), SagaRunQuery(failure="100% of _"))
    assert [r.instance_id for r in literal.items] == [instances[0]]
    assert literal.items[0].status is SagaStatus.FAILED
    everything = await saga_runs.list_runs(uow(), SagaRunQuery(limit=2))
    assert [r.instance_id for r in everything.items] == [instances[2], instances[1]]
    assert everything.counts[SagaStatus.FAILED] == 2
    assert everything.counts[SagaStatus.RUNNING] == 1
    rest = await saga_runs.list_runs(uow(), SagaRunQuery(limit=2, cursor=everything.next_cursor))
    assert [r.instance_id for r in rest.items] == [instances[0]]
    assert rest.next_cursor is None

    async with uow().reading() as u:
        assert await u.saga_runs.stale(before=NOW + timedelta(minutes=1), limit=10) == [
            instances[2]
        ]


async def test_a_purged_run_is_marked_and_its_id_scheduled_again_is_a_new_run(
    engine: AsyncEngine,
) -> None:
    clock = FrozenClock(NOW)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, clock)

    request = CloseRequest(
        user_id="ann", task_id=await a_task(engine, "ann"), status=Status.COMPLETED
    )
    instance = operation_id(request.task_id, 1)
    async with uow() as u:
        await saga_runs.stepping(u, request, instance, Step.ADVANCE)
        await saga_runs.failed(u, instance, Step.ADVANCE, "boom")
        await u.commit()
    clock.advance(timedelta(minutes=5))
    async with uow() as u:
        await u.saga_runs.purged(instance, now=clock.now())
        await u.commit()
    purged = (await saga_runs.get_run(uow(), instance)).run
    assert (purged.status, purged.failure_message) == (SagaStatus.FAILED, "boom")
    assert purged.purged_at == clock.now()

    clock.advance(timedelta(minutes=1))
    async with uow() as u:  # the runtime forgot it, so the starter may schedule the id again
        await saga_runs.scheduled(u, request, 1)
        await u.commit()
    again = (await saga_runs.get_run(uow(), instance)).run
    assert (again.status, again.failure_message, again.purged_at) == (
        SagaStatus.PENDING,
        None,
        None,
    )
    assert (again.started_at, again.finished_at) == (clock.now(), None)
