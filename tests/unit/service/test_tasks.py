"""Task use cases over the in-memory unit of work: create, read, update, delete, list, and
idempotency keys."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import Conflict, NotFound
from domain.tasks import DeleteScope
from service import reminders, tasks
from service.schemas import (
    Priority,
    RecurrenceIn,
    ReminderIn,
    TaskCreate,
    TaskPublic,
    TaskQuery,
    TaskSort,
    TaskUpdate,
)
from tests.clocks import FrozenClock
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW

DUE = NOW + timedelta(hours=3)


async def _create(uow: FakeUnitOfWork, user_id: str = "ann", **fields: object) -> TaskPublic:
    return await tasks.create_task(uow, user_id, TaskCreate(**{"title": "Pay rent", **fields}))


async def test_creating_a_task_stores_its_tags_reminders_and_series(uow: FakeUnitOfWork) -> None:
    at = NOW + timedelta(hours=1)
    task = await _create(
        uow,
        tags=["work", "Home", " WORK ", "apple"],
        due_at=DUE,
        timezone="Europe/Paris",
        priority=Priority.HIGH,
        recurrence=RecurrenceIn(rrule="FREQ=WEEKLY"),
        reminders=[ReminderIn(before_minutes=30), ReminderIn(at=at)],
    )

    assert task.tags == ["apple", "Home", "work"]  # one per name, by name case-insensitively
    assert task.due_at.isoformat() == "2027-01-04T16:00:00+01:00"  # DUE, in Paris
    assert (task.priority, task.status, task.version) == (Priority.HIGH, "open", 1)
    assert task.recurrence is not None and task.recurrence.rrule.startswith("FREQ=WEEKLY")
    assert (task.series_id is not None, task.occurrence_index) == (True, 0)
    assert [(r.before_minutes, r.at, r.fire_at, r.state) for r in task.reminders] == [
        (30, None, DUE - timedelta(minutes=30), "pending"),
        (None, at, at, "pending"),
    ]
    assert (task.created_at, task.updated_at) == (NOW, NOW)
    # the reminder use cases read what the task use case wrote
    pending = await reminders.pending(uow, "ann")
    assert {p.reminder_id for p in pending} == {r.id for r in task.reminders}
    series = uow.tables.series[task.series_id]
    assert (series["timezone"], series["state"]) == ("Europe/Paris", "active")
    [event] = uow.published
    assert (event.type, event.task_id) == ("task.created", task.id)
    assert event.data == task.model_dump(mode="json")
    assert await tasks.get_task(uow, "ann", task.id) == task


async def test_another_users_task_is_not_found(uow: FakeUnitOfWork) -> None:
    task = await _create(uow, "bob")
    with pytest.raises(NotFound):
        await tasks.get_task(uow, "ann", task.id)
    with pytest.raises(NotFound):
        await tasks.update_task(uow, "ann", task.id, TaskUpdate(title="Mine now"))
    with pytest.raises(NotFound):
        await tasks.delete_task(uow, "ann", task.id)
    assert uow.tables.tasks[task.id]["title"] == "Pay rent"


async def test_an_update_changes_only_what_it_names_and_moves_relative_reminders(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    at = NOW + timedelta(hours=1)
    task = await _create(
        uow,
        description="flat 3",
        tags=["home"],
        due_at=DUE,
        reminders=[ReminderIn(before_minutes=30), ReminderIn(at=at)],
    )
    relative, absolute = (r.id for r in task.reminders)
    uow.tables.reminders[relative]["state"] = "sent"
    clock.advance(timedelta(minutes=5))

    moved = await tasks.update_task(
        uow, "ann", task.id, TaskUpdate(due_at=DUE + timedelta(days=1)), if_match=1
    )

    assert (moved.title, moved.description, moved.tags) == ("Pay rent", "flat 3", ["home"])
    assert (moved.version, moved.updated_at) == (2, NOW + timedelta(minutes=5))
    assert [(r.id, r.fire_at, r.state) for r in moved.reminders] == [
        (relative, DUE + timedelta(days=1, minutes=-30), "pending"),  # moved, fires again
        (absolute, at, "pending"),
    ]
    [_, updated] = uow.published
    assert (updated.type, updated.data["changed"]) == ("task.updated", ["due_at"])

    renamed = await tasks.update_task(uow, "ann", task.id, TaskUpdate(title="Pay the rent"))
    assert renamed.title == "Pay the rent"
    assert renamed.reminders == moved.reminders  # no due change: the reminders stay as they are


async def test_deleting_an_occurrence_moves_the_series_on(uow: FakeUnitOfWork) -> None:
    task = await _create(
        uow,
        due_at=DUE,
        tags=["home"],
        recurrence=RecurrenceIn(rrule="FREQ=DAILY"),
        reminders=[ReminderIn(before_minutes=10)],
    )

    deletion = await tasks.delete_task(uow, "ann", task.id, DeleteScope.OCCURRENCE)

    assert deletion.deleted == [task.id]
    assert task.id not in uow.tables.tasks
    assert all(r["task_id"] != task.id for r in uow.tables.reminders.values())
    [spawned] = uow.tables.tasks.values()
    nxt = await tasks.get_task(uow, "ann", spawned["id"])
    assert (nxt.series_id, nxt.occurrence_index, nxt.status) == (task.series_id, 1, "open")
    assert nxt.due_at == DUE + timedelta(days=1)
    assert nxt.tags == ["home"]
    assert [(r.before_minutes, r.fire_at) for r in nxt.reminders] == [
        (10, DUE + timedelta(days=1, minutes=-10))
    ]
    assert [e.type for e in uow.published[1:]] == ["task.created", "task.skipped", "task.deleted"]
    assert uow.published[2].data["next_task_id"] == str(nxt.id)
    assert uow.tables.series[task.series_id]["state"] == "active"


async def test_deleting_a_series_deletes_every_occurrence_and_ends_it(
    uow: FakeUnitOfWork,
) -> None:
    task = await _create(uow, due_at=DUE, recurrence=RecurrenceIn(rrule="FREQ=DAILY"))
    other = await _create(uow, title="Unrelated")
    await tasks.delete_task(uow, "ann", task.id)  # the series' occurrence 1 is open now
    [nxt] = [t["id"] for t in uow.tables.tasks.values() if t["series_id"] == task.series_id]

    preview = await tasks.delete_task(uow, "ann", nxt, DeleteScope.SERIES, dry_run=True)
    assert (preview.deleted, nxt in uow.tables.tasks) == ([nxt], True)
    deletion = await tasks.delete_task(uow, "ann", nxt, DeleteScope.SERIES)

    assert deletion.deleted == [nxt]
    assert list(uow.tables.tasks) == [other.id]
    assert uow.tables.series[task.series_id]["state"] == "ended"


async def test_a_listing_filters_and_pages_with_a_cursor(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    made = {}
    for i, (title, tags, priority) in enumerate(
        [
            ("a", ["work"], Priority.HIGH),
            ("b", ["work", "urgent"], Priority.LOW),
            ("c", ["home"], Priority.HIGH),
            ("d", ["Work"], Priority.HIGH),
            ("e", ["work"], Priority.HIGH),
            ("f", ["home"], Priority.LOW),
        ]
    ):
        due = None if title in "ef" else NOW + timedelta(hours=4 - i)  # d, c, b, a; e, f none
        made[title] = await _create(uow, title=title, tags=tags, priority=priority, due_at=due)
    await _create(uow, "bob", title="bob's", tags=["work"], priority=Priority.HIGH)
    clock.advance(timedelta(hours=2, minutes=30))  # c and d are overdue now
    undated = [t.title for t in sorted([made["e"], made["f"]], key=lambda t: t.id)]

    page = await tasks.list_tasks(uow, "ann", TaskQuery(tag=["WORK"], priority=[Priority.HIGH]))
    assert [t.title for t in page.items] == ["d", "a", "e"]  # by due time, none last
    assert page.next_cursor is None

    for limit, pages in [
        (2, [["d", "c"], ["b", "a"], undated]),
        (5, [["d", "c", "b", "a", undated[0]], undated[1:]]),  # a cursor at "no due time"
    ]:
        seen, cursor = [], None
        while True:
            page = await tasks.list_tasks(uow, "ann", TaskQuery(limit=limit, cursor=cursor))
            seen.append([t.title for t in page.items])
            if (cursor := page.next_cursor) is None:
                break
        assert seen == pages

    query = TaskQuery(sort=TaskSort.PRIORITY_DESC, limit=3)
    first = await tasks.list_tasks(uow, "ann", query)
    rest = await tasks.list_tasks(
        uow, "ann", query.model_copy(update={"cursor": first.next_cursor})
    )
    expected = sorted(made.values(), key=lambda t: (t.priority.rank, t.id), reverse=True)
    assert [t.id for t in first.items + rest.items] == [t.id for t in expected]
    assert rest.next_cursor is None

    overdue = await tasks.list_tasks(uow, "ann", TaskQuery(overdue=True))
    assert [t.title for t in overdue.items] == ["d", "c"]
    assert (await tasks.list_tasks(uow, "ann", TaskQuery(tag=["work", "nope"]))).items == []
    assert [t.title for t in (await tasks.list_tasks(uow, "ann", TaskQuery(q="E"))).items] == ["e"]


async def test_an_idempotency_key_replays_the_first_result(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    cmd = TaskCreate(title="Pay rent", due_at=DUE, reminders=[ReminderIn(before_minutes=5)])
    first = await tasks.create_task(uow, "ann", cmd, idempotency_key="k1")
    clock.advance(timedelta(minutes=1))

    again = await tasks.create_task(uow, "ann", cmd, idempotency_key="k1")

    assert again == first
    assert list(uow.tables.tasks) == [first.id]
    assert len(uow.published) == 1
    # the key is the user's: another user's same key is a request of its own
    bobs = await tasks.create_task(uow, "bob", cmd, idempotency_key="k1")
    assert bobs.id != first.id
    with pytest.raises(Conflict):
        await tasks.create_task(uow, "ann", TaskCreate(title="Other"), idempotency_key="k1")
    with pytest.raises(Conflict):
        await tasks.update_task(uow, "ann", first.id, TaskUpdate(title="x"), idempotency_key="k1")
    assert uow.tables.tasks[first.id]["title"] == "Pay rent"
    assert len(uow.tables.tasks) == 2


async def test_rows_carry_reminder_times_as_postgresql_json_writes_them(
    uow: FakeUnitOfWork,
) -> None:
    task_id = uow.add_task("ann", due_at=DUE)
    reminder_id = uow.add_reminder(task_id, DUE.replace(microsecond=250000), before_minutes=0)
    async with uow:
        row = await uow.tasks.get_row("ann", task_id)
    assert row is not None
    assert row["reminders"] == [
        [str(reminder_id), 0, None, "2027-01-04T15:00:00.25+00:00", "pending"]
    ]
    assert (row["tags"], row["rrule"], row["series_state"]) == ([], None, None)
