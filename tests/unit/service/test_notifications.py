"""Notifications kept from events, their webhook deliveries scheduled, read by their user."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.errors import NotFound
from domain.events import Event, ReminderDue, TaskCompletionFailed, TaskCreated, TaskUpdated
from service import notifications
from service.notifications import NotificationQuery
from tests.clocks import FrozenClock
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW


async def _notify(uow: FakeUnitOfWork, event: Event) -> bool:
    async with uow:
        delivery = await notifications.notify(uow, event)
        await uow.commit()
    return delivery


async def test_a_task_event_is_notified_once_named_by_its_title(uow: FakeUnitOfWork) -> None:
    task_id = uow.add_task("ann", "Pay rent")
    event = TaskCreated(occurred_at=NOW, user_id="ann", task_id=task_id)

    assert await _notify(uow, event) is False  # no webhook: nothing to deliver
    await _notify(uow, event)

    [note] = uow.tables.notifications.values()
    assert note["title"] == "Task created: Pay rent"
    assert note["body"] == f"Task created at {NOW.isoformat()}"
    assert note["kind"] == "task.created"
    assert note["event_id"] == event.event_id


async def test_the_title_in_the_event_wins_and_a_gone_task_is_named_by_id(
    uow: FakeUnitOfWork,
) -> None:
    task_id = uow.add_task("ann", "Old title")
    await _notify(
        uow,
        TaskCreated(occurred_at=NOW, user_id="ann", task_id=task_id, data={"title": "New title"}),
    )
    gone = uuid.uuid4()
    await _notify(
        uow,
        TaskCompletionFailed(
            occurred_at=NOW, user_id="ann", task_id=gone, data={"reason": "sidecar down"}
        ),
    )
    titles = sorted(n["title"] for n in uow.tables.notifications.values())
    assert titles == ["Completion failed: task " + str(gone), "Task created: New title"]
    failed = next(n for n in uow.tables.notifications.values() if n["task_id"] == gone)
    assert failed["body"] == f"task {gone} could not be completed: sidecar down"


async def test_another_users_task_does_not_lend_its_title(uow: FakeUnitOfWork) -> None:
    task_id = uow.add_task("bob", "Bob's secret")
    await _notify(uow, TaskCreated(occurred_at=NOW, user_id="ann", task_id=task_id))
    [note] = uow.tables.notifications.values()
    assert "secret" not in note["title"]


async def test_plain_edits_are_not_notified(uow: FakeUnitOfWork) -> None:
    task_id = uow.add_task("ann")
    assert await _notify(uow, TaskUpdated(occurred_at=NOW, user_id="ann", task_id=task_id)) is False
    assert uow.tables.notifications == {}


async def test_with_a_webhook_a_delivery_is_scheduled_once(uow: FakeUnitOfWork) -> None:
    uow.tables.webhooks["ann"] = {
        "url": "https://example.com/h",
        "secret": "s" * 16,
        "created_at": NOW,
    }
    task_id = uow.add_task("ann", "Call mum")
    event = ReminderDue(
        occurred_at=NOW, user_id="ann", task_id=task_id, data={"fire_at": "2027-01-04T12:00"}
    )
    assert await _notify(uow, event) is True
    assert await _notify(uow, event) is True  # redelivered: its delivery may still be pending
    [delivery] = uow.tables.deliveries.values()
    assert delivery["event_id"] == event.event_id
    assert delivery["attempts"] == 0
    [note] = uow.tables.notifications.values()
    assert note["body"] == "Call mum — reminder for 2027-01-04T12:00"


async def test_unread_lists_newest_first_and_reading_twice_keeps_the_first_time(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    task_id = uow.add_task("ann")
    events = []
    for _ in range(3):
        events.append(TaskCreated(occurred_at=clock.now(), user_id="ann", task_id=task_id))
        await _notify(uow, events[-1])
        clock.advance(timedelta(minutes=1))
    page = await notifications.list_notifications(uow, "ann", NotificationQuery())
    assert [n.event_id for n in page.items] == [e.event_id for e in reversed(events)]

    newest = page.items[0]
    read = await notifications.mark_read(uow, "ann", newest.id)
    assert read.read_at == clock.now()
    clock.advance(timedelta(hours=1))
    again = await notifications.mark_read(uow, "ann", newest.id)
    assert again.read_at == read.read_at

    unread = await notifications.list_notifications(
        uow, "ann", NotificationQuery(unread=True, limit=1)
    )
    assert [n.event_id for n in unread.items] == [events[1].event_id]


async def test_another_users_notification_cannot_be_read(uow: FakeUnitOfWork) -> None:
    task_id = uow.add_task("bob")
    await _notify(uow, TaskCreated(occurred_at=NOW, user_id="bob", task_id=task_id))
    [note_id] = uow.tables.notifications
    with pytest.raises(NotFound):
        await notifications.mark_read(uow, "ann", note_id)
    assert uow.tables.notifications[note_id]["read_at"] is None
