"""Reminder use cases: snooze, explain, fire (once per fire time), and the pending views."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.errors import Conflict, NotFound, ValidationFailed
from service import reminders
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW

DUE = NOW + timedelta(hours=2)


def _task_with_reminder(
    uow: FakeUnitOfWork, user_id: str = "ann", *, status: str = "open"
) -> tuple[uuid.UUID, uuid.UUID]:
    task_id = uow.add_task(user_id, "Dentist", due_at=DUE, timezone="Europe/Paris", status=status)
    reminder_id = uow.add_reminder(task_id, DUE - timedelta(minutes=30), before_minutes=30)
    return task_id, reminder_id


async def test_snoozing_moves_the_fire_time_and_bumps_the_task(uow: FakeUnitOfWork) -> None:
    task_id, reminder_id = _task_with_reminder(uow)
    uow.tables.reminders[reminder_id]["state"] = "sent"

    out = await reminders.snooze_reminder(uow, "ann", reminder_id, minutes=10)

    assert (out.fire_at, out.state, out.before_minutes) == (
        NOW + timedelta(minutes=10),
        "pending",
        30,
    )
    stored = uow.tables.reminders[reminder_id]
    assert (stored["fire_at"], stored["state"]) == (out.fire_at, "pending")
    assert uow.tables.tasks[task_id]["version"] == 2
    [event] = uow.published
    assert event.type == "task.updated"
    assert event.data == {"changed": ["reminders"], "snoozed": str(reminder_id)}


async def test_snoozing_until_a_wall_clock_time_reads_it_in_the_tasks_zone(
    uow: FakeUnitOfWork,
) -> None:
    _, reminder_id = _task_with_reminder(uow)
    local = (NOW + timedelta(days=1)).replace(tzinfo=None)  # 12:00 in Paris is 11:00 UTC
    out = await reminders.snooze_reminder(uow, "ann", reminder_id, until=local)
    assert out.fire_at == NOW + timedelta(days=1, hours=-1)


@pytest.mark.parametrize(
    "how",
    [{}, {"minutes": 5, "until": NOW + timedelta(hours=1)}, {"minutes": 0}, {"until": NOW}],
)
async def test_a_snooze_must_name_one_future_time(uow: FakeUnitOfWork, how: dict) -> None:
    task_id, reminder_id = _task_with_reminder(uow)
    before = dict(uow.tables.reminders[reminder_id])
    with pytest.raises(ValidationFailed):
        await reminders.snooze_reminder(uow, "ann", reminder_id, **how)
    assert uow.tables.reminders[reminder_id] == before
    assert uow.tables.tasks[task_id]["version"] == 1
    assert uow.published == []


async def test_a_closed_tasks_reminder_cannot_be_snoozed(uow: FakeUnitOfWork) -> None:
    _, reminder_id = _task_with_reminder(uow, status="completed")
    with pytest.raises(Conflict):
        await reminders.snooze_reminder(uow, "ann", reminder_id, minutes=5)


async def test_another_users_reminder_is_not_found(uow: FakeUnitOfWork) -> None:
    _, reminder_id = _task_with_reminder(uow, "bob")
    with pytest.raises(NotFound):
        await reminders.snooze_reminder(uow, "ann", reminder_id, minutes=5)
    with pytest.raises(NotFound):
        await reminders.explain_reminder(uow, "ann", reminder_id)


async def test_an_explanation_names_its_anchor_and_a_snooze(uow: FakeUnitOfWork) -> None:
    task_id, reminder_id = _task_with_reminder(uow)
    e = await reminders.explain_reminder(uow, "ann", reminder_id)
    assert (e.task_id, e.anchor, e.offset_minutes, e.state) == (task_id, "due_at", 30, "pending")
    assert e.fire_at_utc == DUE - timedelta(minutes=30)
    assert "moved" not in e.why

    await reminders.snooze_reminder(uow, "ann", reminder_id, minutes=15)
    uow.tables.tasks[task_id]["status"] = "completed"
    e = await reminders.explain_reminder(uow, "ann", reminder_id)
    assert e.state == "pending (task completed)"
    assert "snoozed or rescheduled" in e.why


async def test_a_fire_time_fires_once(uow: FakeUnitOfWork) -> None:
    task_id, reminder_id = _task_with_reminder(uow)
    fire_at = DUE - timedelta(minutes=30)

    assert await reminders.fire(uow, "ann", reminder_id, fire_at) is True
    assert await reminders.fire(uow, "ann", reminder_id, fire_at) is False

    assert uow.tables.reminders[reminder_id]["state"] == "sent"
    assert uow.tables.reminders[reminder_id]["sent_at"] == NOW
    [due] = uow.published
    assert (due.type, due.task_id) == ("reminder.due", task_id)
    assert due.data["title"] == "Dentist"
    assert due.data["fire_at"] == fire_at.isoformat()
    assert due.data["due_at"] == DUE.isoformat()
    assert due.data["before_minutes"] == 30
    assert due.data["dedupe_key"]


async def test_a_moved_or_closed_reminder_does_not_fire(uow: FakeUnitOfWork) -> None:
    _, moved = _task_with_reminder(uow)
    old_fire_at = uow.tables.reminders[moved]["fire_at"]
    await reminders.snooze_reminder(uow, "ann", moved, minutes=5)
    _, closed = _task_with_reminder(uow, status="completed")
    closed_fire_at = uow.tables.reminders[closed]["fire_at"]
    published = len(uow.published)

    assert await reminders.fire(uow, "ann", moved, old_fire_at) is False
    assert await reminders.fire(uow, "ann", closed, closed_fire_at) is False
    assert await reminders.fire(uow, "bob", moved, NOW + timedelta(minutes=5)) is False
    assert len(uow.published) == published


async def test_upcoming_lists_open_tasks_pending_reminders_soonest_first(
    uow: FakeUnitOfWork,
) -> None:
    task_id = uow.add_task("ann", "Pack", due_at=DUE)
    later = uow.add_reminder(task_id, NOW + timedelta(hours=3), at=NOW + timedelta(hours=3))
    soon = uow.add_reminder(task_id, NOW + timedelta(minutes=20), before_minutes=100)
    uow.add_reminder(task_id, NOW + timedelta(minutes=10), before_minutes=110, state="sent")
    _task_with_reminder(uow, status="completed")
    _task_with_reminder(uow, "bob")

    listed = await reminders.list_upcoming_reminders(uow, "ann")
    assert [u.reminder.id for u in listed] == [soon, later]
    assert listed[0].task_title == "Pack"

    within = await reminders.list_upcoming_reminders(uow, "ann", within=timedelta(hours=1))
    assert [u.reminder.id for u in within] == [soon]
    assert [
        u.reminder.id for u in await reminders.list_upcoming_reminders(uow, "ann", limit=1)
    ] == [soon]


async def test_pending_reminders_and_the_users_who_have_them(uow: FakeUnitOfWork) -> None:
    ann_task, ann_reminder = _task_with_reminder(uow, "ann")
    other_task, _ = _task_with_reminder(uow, "ann")
    _task_with_reminder(uow, "bob")
    _task_with_reminder(uow, "cy", status="completed")

    only = await reminders.pending(uow, "ann", [ann_task])
    assert [(p.reminder_id, p.task_id) for p in only] == [(ann_reminder, ann_task)]
    assert {p.task_id for p in await reminders.pending(uow, "ann")} == {ann_task, other_task}
    assert await reminders.users_with_pending(uow) == ["ann", "bob"]
    assert await reminders.users_with_pending(uow, after="ann") == ["bob"]
    assert await reminders.users_with_pending(uow, limit=1) == ["ann"]
