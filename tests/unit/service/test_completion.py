"""Completing and skipping occurrences: the in-process port, and the saga's steps
(service.occurrences) one at a time, over the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import Conflict, NotFound
from domain.recurrence import parse_rule
from domain.tasks import Status, occurrence_id
from service import occurrences, tasks
from service.completion import InProcessCompletions
from service.occurrences import CloseRequest, NextRequest, ReopenRequest
from service.schemas import RecurrenceIn, ReminderIn, TaskCreate, TaskPublic
from service.task_views import rule_of
from tests.clocks import FrozenClock
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW

DUE = NOW + timedelta(hours=3)
LATER = NOW + timedelta(hours=1)  # when the tests complete things


async def _daily(uow: FakeUnitOfWork, rrule: str = "FREQ=DAILY") -> TaskPublic:
    """A recurring task with a relative and an absolute reminder, both still to fire."""
    cmd = TaskCreate(
        title="Stretch",
        tags=["health"],
        due_at=DUE,
        recurrence=RecurrenceIn(rrule=rrule),
        reminders=[ReminderIn(before_minutes=30), ReminderIn(at=DUE - timedelta(hours=1))],
    )
    return await tasks.create_task(uow, "ann", cmd)


def _finish(uow: FakeUnitOfWork) -> InProcessCompletions:
    return InProcessCompletions(lambda: uow)


def _series_tasks(uow: FakeUnitOfWork, task: TaskPublic) -> list[dict]:
    rows = [t for t in uow.tables.tasks.values() if t["series_id"] == task.series_id]
    return sorted(rows, key=lambda t: t["occurrence_index"])


def _states(uow: FakeUnitOfWork, task: TaskPublic) -> list[str]:
    return [uow.tables.reminders[r.id]["state"] for r in task.reminders]


async def test_completing_a_one_off_task_closes_it(uow: FakeUnitOfWork, clock: FrozenClock) -> None:
    task = await tasks.create_task(
        uow,
        "ann",
        TaskCreate(title="Post letter", due_at=DUE, reminders=[ReminderIn(before_minutes=5)]),
    )
    clock.set(LATER)

    done = await _finish(uow).finish("ann", task.id, Status.COMPLETED, None)

    assert done.next is None
    assert (done.task.status, done.task.completed_at, done.task.version) == ("completed", LATER, 2)
    assert _states(uow, task) == ["cancelled"]  # it will never fire
    completed = uow.published[-1]
    assert (completed.type, completed.task_id, completed.occurred_at) == (
        "task.completed",
        task.id,
        LATER,
    )
    assert completed.data == {"next_task_id": None, "series_id": None, "title": "Post letter"}


async def test_completing_an_occurrence_makes_exactly_one_next_with_the_relative_reminders(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    task = await _daily(uow)
    clock.set(LATER)

    done = await _finish(uow).finish("ann", task.id, Status.COMPLETED, None)

    nxt = done.next
    assert nxt is not None
    assert nxt.id == occurrence_id(task.series_id, 1)
    assert (nxt.series_id, nxt.occurrence_index, nxt.status) == (task.series_id, 1, "open")
    assert (nxt.due_at, nxt.title, nxt.tags) == (DUE + timedelta(days=1), "Stretch", ["health"])
    # the relative reminder follows the series; the absolute one belonged to occurrence 0
    assert [(r.before_minutes, r.at, r.fire_at, r.state) for r in nxt.reminders] == [
        (30, None, DUE + timedelta(days=1, minutes=-30), "pending")
    ]
    assert [t["id"] for t in _series_tasks(uow, task)] == [task.id, nxt.id]
    assert (done.task.status, _states(uow, task)) == ("completed", ["cancelled", "cancelled"])
    created, completed = uow.published[-2:]
    assert (created.type, created.task_id) == ("task.created", nxt.id)
    assert (completed.type, completed.data["next_task_id"]) == ("task.completed", str(nxt.id))


async def test_completing_again_returns_the_same_result(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    task = await _daily(uow)
    clock.set(LATER)
    first = await _finish(uow).finish("ann", task.id, Status.COMPLETED, None)
    published = list(uow.published)
    clock.advance(timedelta(minutes=10))

    again = await _finish(uow).finish("ann", task.id, Status.COMPLETED, None)

    assert again == first
    assert len(_series_tasks(uow, task)) == 2
    assert uow.published == published  # nothing new to say


async def test_a_completed_task_cannot_be_skipped(uow: FakeUnitOfWork) -> None:
    task = await _daily(uow)
    await _finish(uow).finish("ann", task.id, Status.COMPLETED, None)
    with pytest.raises(Conflict):
        await _finish(uow).finish("ann", task.id, Status.SKIPPED, None)
    assert uow.tables.tasks[task.id]["status"] == "completed"
    assert len(_series_tasks(uow, task)) == 2


async def test_another_users_task_cannot_be_completed(uow: FakeUnitOfWork) -> None:
    task = await _daily(uow)
    with pytest.raises(NotFound):
        await _finish(uow).finish("bob", task.id, Status.COMPLETED, None)
    assert uow.tables.tasks[task.id]["status"] == "open"
    assert len(_series_tasks(uow, task)) == 1


async def test_record_next_run_twice_makes_one_next_and_one_closing_event(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    task = await _daily(uow)
    clock.set(LATER)
    request = CloseRequest(user_id="ann", task_id=task.id, status=Status.COMPLETED)
    async with uow:
        closed, row = await occurrences.close(uow, request)
        assert uow.events == []  # the closing event waits for the next occurrence
        await uow.commit()
    assert (closed.series_id, closed.done) == (task.series_id, False)
    answer = occurrences.decide_next(rule_of(row), closed.next_request, LATER)
    assert answer.next is not None and (answer.next.index, answer.ended) == (1, False)

    next_ids = []
    for _ in range(2):  # the saga's activity, retried after its first run committed
        clock.advance(timedelta(seconds=5))
        async with uow:
            next_ids.append((await occurrences.record_next(uow, closed, row, answer)).next.id)
            await uow.commit()

    assert next_ids == [occurrence_id(task.series_id, 1)] * 2
    assert [t["occurrence_index"] for t in _series_tasks(uow, task)] == [0, 1]
    closing = [e for e in uow.published if e.type == "task.completed"]
    assert [(e.task_id, e.occurred_at) for e in closing] == [(task.id, LATER)]
    assert [e.task_id for e in uow.published if e.type == "task.created"] == [task.id, next_ids[0]]


def test_a_series_that_ends_has_no_next() -> None:
    rule = parse_rule("FREQ=DAILY;COUNT=2", DUE.replace(tzinfo=None), "UTC")
    nxt = DUE + timedelta(days=1)

    def after(index: int, due) -> occurrences.NextAnswer:
        request = NextRequest(
            occurrence_index=index, local_due=due.replace(tzinfo=None), due_at=due, closed_at=LATER
        )
        return occurrences.decide_next(rule, request, LATER)

    first = after(0, DUE)
    assert first.next is not None and (first.next.index, first.next.due_at) == (1, nxt)
    assert (after(1, nxt).next, after(1, nxt).ended) == (None, True)


async def test_the_last_occurrence_ends_its_series(uow: FakeUnitOfWork) -> None:
    task = await _daily(uow, "FREQ=DAILY;COUNT=2")
    done = await _finish(uow).finish("ann", task.id, Status.COMPLETED, None)
    assert done.next is not None
    last = await _finish(uow).finish("ann", done.next.id, Status.COMPLETED, None)
    assert last.next is None
    assert uow.tables.series[task.series_id]["state"] == "ended"


async def test_reopening_a_close_without_a_next_restores_it_and_its_reminders(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    task = await _daily(uow)
    clock.set(LATER)
    request = CloseRequest(user_id="ann", task_id=task.id, status=Status.COMPLETED)
    async with uow:
        await occurrences.close(uow, request)
        await uow.commit()
    assert _states(uow, task) == ["cancelled", "cancelled"]
    clock.set(DUE - timedelta(minutes=45))  # the absolute reminder's time has passed now

    async with uow:
        reopened = await occurrences.reopen(uow, ReopenRequest(request=request, reason="boom"))
        await uow.commit()

    assert reopened
    stored = uow.tables.tasks[task.id]
    assert (stored["status"], stored["completed_at"], stored["version"]) == ("open", None, 3)
    assert _states(uow, task) == ["pending", "cancelled"]  # only the one still to fire
    updated, failed = uow.published[-2:]
    assert (updated.type, updated.data) == (
        "task.updated",
        {"changed": ["status"], "reopened": True},
    )
    assert (failed.type, failed.data) == (
        "task.completion_failed",
        {"status": "completed", "reason": "boom"},
    )


async def test_reopening_leaves_a_close_that_has_its_next(uow: FakeUnitOfWork) -> None:
    task = await _daily(uow)
    request = CloseRequest(user_id="ann", task_id=task.id, status=Status.COMPLETED)
    await _finish(uow).finish("ann", task.id, Status.COMPLETED, None)

    async with uow:
        reopened = await occurrences.reopen(uow, ReopenRequest(request=request, reason="late"))
        await uow.commit()

    assert not reopened
    assert uow.tables.tasks[task.id]["status"] == "completed"
    assert _states(uow, task) == ["cancelled", "cancelled"]
    assert [e.type for e in uow.published[-2:]] == ["task.completed", "task.completion_failed"]


async def test_an_idempotency_key_replays_a_completion(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    task = await _daily(uow)
    first = await _finish(uow).finish("ann", task.id, Status.COMPLETED, "done-1")
    with pytest.raises(Conflict):
        await _finish(uow).finish("ann", task.id, Status.SKIPPED, "done-1")
    uow.tables.tasks[task.id]["title"] = "Renamed since"
    assert await _finish(uow).finish("ann", task.id, Status.COMPLETED, "done-1") == first
