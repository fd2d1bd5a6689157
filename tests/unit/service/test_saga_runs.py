"""The saga runs' read model: what the starter and the steps write, that a finished run never
moves back, the dashboard's filters, counts and pages, and the reconcile against the runtime."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.errors import NotFound, ValidationFailed
from domain.saga_runs import SagaKind, SagaStatus, Step
from domain.tasks import Status
from service import saga_runs
from service.completion import operation_id
from service.occurrences import CloseRequest
from service.saga_runs import UNKNOWN_TO_RUNTIME, SagaRunQuery
from tests.clocks import FrozenClock
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW


def close(
    uow: FakeUnitOfWork, user: str = "ann", status: Status = Status.COMPLETED
) -> CloseRequest:
    series_id = uuid.uuid4()
    task_id = uow.add_task(user, series_id=series_id, occurrence_index=0)
    return CloseRequest(user_id=user, task_id=task_id, status=status)


async def run_to(uow: FakeUnitOfWork, request: CloseRequest, attempt: int = 1) -> str:
    """Schedule attempt `attempt` and run its step."""
    async with uow:
        await saga_runs.scheduled(uow, request, attempt)
        await uow.commit()
    instance = operation_id(request.task_id, attempt)
    async with uow:
        await saga_runs.stepping(uow, request, instance, Step.ADVANCE)
        await uow.commit()
    return instance


async def test_a_run_goes_from_pending_through_running_to_completed(uow: FakeUnitOfWork) -> None:
    request = close(uow)
    async with uow:
        await saga_runs.scheduled(uow, request, 1)
        await uow.commit()
    instance = operation_id(request.task_id, 1)
    [row] = uow.tables.saga_runs.values()
    assert (row["status"], row["kind"], row["attempt"], row["retry_of"]) == (
        "pending",
        "complete",
        1,
        None,
    )
    assert row["series_id"] == uow.tables.tasks[request.task_id]["series_id"]
    async with uow:
        await saga_runs.stepping(uow, request, instance, Step.ADVANCE)
        await uow.commit()
    row = uow.tables.saga_runs[instance]  # a unit of work's exit copies the tables
    assert (row["status"], row["step"]) == ("running", "advance")
    next_id = uuid.uuid4()
    async with uow:
        await saga_runs.completed(uow, instance, next_id)
        await uow.commit()
    row = uow.tables.saga_runs[instance]
    assert (row["status"], row["step"], row["next_task_id"]) == ("completed", None, next_id)
    assert row["finished_at"] == NOW


async def test_a_step_that_writes_before_its_starter_is_not_set_back_to_pending(
    uow: FakeUnitOfWork,
) -> None:
    request = close(uow, status=Status.SKIPPED)
    instance = operation_id(request.task_id, 2)
    async with uow:
        await saga_runs.stepping(uow, request, instance, Step.ADVANCE)
        await saga_runs.scheduled(uow, request, 2)
        await uow.commit()
    row = uow.tables.saga_runs[instance]
    assert (row["status"], row["kind"]) == ("running", "skip")
    assert (row["attempt"], row["retry_of"]) == (2, operation_id(request.task_id, 1))


async def test_a_finished_run_never_moves_again(uow: FakeUnitOfWork) -> None:
    request = close(uow)
    instance = await run_to(uow, request)
    async with uow:
        await saga_runs.failed(uow, instance, Step.ADVANCE, "the series actor is away")
        await saga_runs.stepping(uow, request, instance, Step.ADVANCE)  # a late retry
        await saga_runs.completed(uow, instance, uuid.uuid4())
        await uow.commit()
    row = uow.tables.saga_runs[instance]
    assert (row["status"], row["failure_step"]) == ("failed", "advance")
    assert (row["failure_message"], row["next_task_id"]) == ("the series actor is away", None)


async def test_filters_counts_and_pages(uow: FakeUnitOfWork, clock: FrozenClock) -> None:
    instances = []
    for n in range(5):
        request = close(uow, user="ann" if n % 2 else "bob")
        instances.append(await run_to(uow, request))
        clock.advance(timedelta(seconds=1))
    async with uow:
        await saga_runs.failed(uow, instances[1], Step.ADVANCE, "Timed out: series")
        await saga_runs.completed(uow, instances[2], None)
        await uow.commit()

    page = await saga_runs.list_runs(uow, SagaRunQuery(limit=2))
    assert [r.instance_id for r in page.items] == instances[::-1][:2]  # newest first
    rest = await saga_runs.list_runs(uow, SagaRunQuery(limit=2, cursor=page.next_cursor))
    last = await saga_runs.list_runs(uow, SagaRunQuery(limit=2, cursor=rest.next_cursor))
    assert [r.instance_id for r in rest.items + last.items] == instances[::-1][2:]
    assert last.next_cursor is None
    assert page.counts == {
        SagaStatus.PENDING: 0,
        SagaStatus.RUNNING: 3,
        SagaStatus.COMPLETED: 1,
        SagaStatus.FAILED: 1,
        SagaStatus.TERMINATED: 0,
        SagaStatus.SUSPENDED: 0,
    }

    failed = await saga_runs.list_runs(uow, SagaRunQuery(status=[SagaStatus.FAILED]))
    assert [r.instance_id for r in failed.items] == [instances[1]]
    assert failed.counts[SagaStatus.RUNNING] == 3  # the counts ignore the status filter
    by_text = await saga_runs.list_runs(uow, SagaRunQuery(failure="TIMED OUT"))
    assert [r.instance_id for r in by_text.items] == [instances[1]]
    bob = await saga_runs.list_runs(uow, SagaRunQuery(user="bob"))
    assert {r.user_id for r in bob.items} == {"bob"} and len(bob.items) == 3
    window = await saga_runs.list_runs(
        uow,
        SagaRunQuery(
            started_after=NOW + timedelta(seconds=1), started_before=NOW + timedelta(seconds=3)
        ),
    )
    assert [r.instance_id for r in window.items] == [instances[2], instances[1]]
    skips = await saga_runs.list_runs(uow, SagaRunQuery(kind=SagaKind.SKIP))
    assert skips.items == []


async def test_a_bad_cursor_is_the_callers_error(uow: FakeUnitOfWork) -> None:
    with pytest.raises(ValidationFailed):
        await saga_runs.list_runs(uow, SagaRunQuery(cursor="not-a-cursor"))


async def test_one_run_comes_with_every_attempt_at_its_occurrence(uow: FakeUnitOfWork) -> None:
    request = close(uow)
    first = await run_to(uow, request, 1)
    async with uow:
        await saga_runs.failed(uow, first, Step.ADVANCE, "boom")
        await uow.commit()
    second = await run_to(uow, request, 2)
    detail = await saga_runs.get_run(uow, second)
    assert detail.run.retry_of == first
    assert [r.instance_id for r in detail.lineage] == [first, second]
    with pytest.raises(NotFound):
        await saga_runs.get_run(uow, "complete-nope")


async def test_the_reconcile_settles_quiet_runs_from_the_runtime(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    requests = [close(uow) for _ in range(4)]
    gone, failed, still, fresh = [await run_to(uow, r) for r in requests]
    clock.advance(timedelta(minutes=2))
    async with uow:
        await saga_runs.stepping(uow, requests[3], fresh, Step.ADVANCE)  # heard from just now
        await uow.commit()
    runtime = {failed: ("FAILED", "activity failed"), still: ("SUSPENDED", None)}
    asked: list[str] = []

    async def runtime_status(instance: str) -> tuple[str, str | None] | None:
        asked.append(instance)
        return runtime.get(instance)

    changed = await saga_runs.reconcile(
        lambda: FakeUnitOfWork(clock, uow.tables),
        runtime_status,
        quiet_for=timedelta(minutes=1),
        now=clock.now(),
    )
    assert changed == 3
    assert fresh not in asked
    rows = uow.tables.saga_runs
    assert (rows[gone]["status"], rows[gone]["failure_message"]) == ("failed", UNKNOWN_TO_RUNTIME)
    assert (rows[failed]["status"], rows[failed]["failure_message"]) == (
        "failed",
        "activity failed",
    )
    assert rows[still]["status"] == "suspended"
    assert rows[fresh]["status"] == "running"


def test_a_failure_is_kept_as_its_first_line() -> None:
    driver = "(asyncpg) RaiseError: refused\n[SQL: INSERT ...]\n[parameters: ('a title',)]"
    assert saga_runs.headline(driver) == "(asyncpg) RaiseError: refused"
    assert saga_runs.headline("x" * 600) == "x" * 499 + "…"
    assert saga_runs.headline("") == ""


async def test_a_run_the_runtime_completed_is_settled_without_a_failure(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    instance = await run_to(uow, close(uow))
    clock.advance(timedelta(minutes=2))

    async def runtime_status(_: str) -> tuple[str, str | None] | None:
        return ("COMPLETED", None)

    changed = await saga_runs.reconcile(
        lambda: FakeUnitOfWork(clock, uow.tables),
        runtime_status,
        quiet_for=timedelta(minutes=1),
        now=clock.now(),
    )
    row = uow.tables.saga_runs[instance]
    assert (changed, row["status"], row["failure_message"]) == (1, "completed", None)
