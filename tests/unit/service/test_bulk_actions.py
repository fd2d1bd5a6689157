"""Bulk actions over saga runs: the dry run, the confirmation naming its count, one bulk
action per key, and a run that handles each matched run once, across a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import Conflict
from domain.saga_runs import SagaStatus, Step
from domain.tasks import Status
from service import bulk_actions, saga_runs
from service.bulk_actions import BulkConfirm, BulkRequest
from service.completion import operation_id
from service.occurrences import CloseRequest
from service.saga_actions import SagaAction
from service.saga_runs import SagaRunFilter
from tests.clocks import FrozenClock
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.test_saga_actions import Runtime


class RetryingRuntime(Runtime):
    """Retries start the next attempt for real, in the read model, as the saga's starter does."""

    def __init__(self, factory) -> None:
        super().__init__()
        self.factory = factory

    async def retry(self, user_id, task_id, status):
        instance = await super().retry(user_id, task_id, status)
        uow = self.factory()
        async with uow:
            request = CloseRequest(user_id=user_id, task_id=task_id, status=status)
            await saga_runs.scheduled(uow, request, 2)
            await uow.commit()
        return instance


@pytest.fixture
def factory(uow: FakeUnitOfWork, clock: FrozenClock):
    return lambda: FakeUnitOfWork(clock, uow.tables)


async def failed_runs(uow: FakeUnitOfWork, clock: FrozenClock, n: int) -> list[str]:
    instances = []
    for _ in range(n):
        task_id = uow.add_task("ann")
        request = CloseRequest(user_id="ann", task_id=task_id, status=Status.COMPLETED)
        instance = operation_id(task_id, 1)
        async with uow:
            await saga_runs.stepping(uow, request, instance, Step.ADVANCE)
            await saga_runs.failed(uow, instance, Step.ADVANCE, "boom")
            await uow.commit()
        instances.append(instance)
        clock.advance(timedelta(seconds=1))
    return instances


RETRY_FAILED = BulkRequest(
    action=SagaAction.RETRY, filter=SagaRunFilter(status=[SagaStatus.FAILED]), reason="fixed"
)


async def test_the_dry_run_counts_what_the_action_applies_to(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    instances = await failed_runs(uow, clock, 12)
    shown = await bulk_actions.dry_run(uow, RETRY_FAILED)
    assert shown.count == 12
    assert [r.instance_id for r in shown.sample] == instances[:10]  # oldest first
    running_only = BulkRequest(
        action=SagaAction.RETRY, filter=SagaRunFilter(status=[SagaStatus.RUNNING]), reason="x"
    )
    assert (await bulk_actions.dry_run(uow, running_only)).count == 0
    with pytest.raises(Conflict, match="not a bulk action"):
        await bulk_actions.dry_run(uow, BulkRequest(action=SagaAction.SUSPEND, reason="x"))


async def test_a_confirmation_must_name_the_current_count_and_a_key_makes_one(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    await failed_runs(uow, clock, 3)
    stale = BulkConfirm(**RETRY_FAILED.model_dump(), count=2)
    with pytest.raises(Conflict, match="now matches 3 runs, not 2"):
        await bulk_actions.confirm(uow, "olga", "k1", stale)
    assert uow.tables.bulk_actions == {}
    good = BulkConfirm(**RETRY_FAILED.model_dump(), count=3)
    first = await bulk_actions.confirm(uow, "olga", "k2", good)
    again = await bulk_actions.confirm(uow, "olga", "k2", good)
    assert first.id == again.id and len(uow.tables.bulk_actions) == 1
    assert (first.state, first.matched) == ("running", 3)


async def test_a_bulk_retry_handles_each_run_once_and_resumes_after_a_restart(
    uow: FakeUnitOfWork, clock: FrozenClock, factory
) -> None:
    instances = await failed_runs(uow, clock, 5)
    bulk = await bulk_actions.confirm(
        uow, "olga", "k", BulkConfirm(**RETRY_FAILED.model_dump(), count=5)
    )
    runtime = RetryingRuntime(factory)
    assert await bulk_actions.run_one(factory, runtime, batch=2)  # a replica dies after this
    clock.advance(bulk_actions.LEASE + timedelta(seconds=1))  # its lease runs out
    while (await bulk_actions.get(uow, bulk.id)).state == "running":
        assert await bulk_actions.run_one(factory, runtime, batch=2)
    done = await bulk_actions.get(uow, bulk.id)
    assert (done.done, done.skipped, done.failed) == (5, 0, 0)
    retried = [a[2] for a in runtime.asked if a[0] == "retry"]
    assert sorted(retried) == sorted(str(uow.tables.saga_runs[i]["task_id"]) for i in instances)
    assert not await bulk_actions.run_one(factory, runtime)  # nothing left to claim


async def test_a_run_retried_meanwhile_is_left_out(
    uow: FakeUnitOfWork, clock: FrozenClock, factory
) -> None:
    instances = await failed_runs(uow, clock, 2)
    bulk = await bulk_actions.confirm(
        uow, "olga", "k", BulkConfirm(**RETRY_FAILED.model_dump(), count=2)
    )
    runtime = RetryingRuntime(factory)
    await runtime.retry("ann", uow.tables.saga_runs[instances[0]]["task_id"], Status.COMPLETED)
    runtime.asked.clear()
    await bulk_actions.run_one(factory, runtime)
    done = await bulk_actions.get(uow, bulk.id)
    assert (done.state, done.done, done.skipped) == ("done", 1, 0)
    assert len(runtime.asked) == 1
