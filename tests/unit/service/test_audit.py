"""The audit trail kept from task events."""

from __future__ import annotations

import uuid
from datetime import timedelta

from domain.events import TaskCompleted, TaskCreated
from service import audit
from service.audit import AuditQuery
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW


async def _record(uow: FakeUnitOfWork, event) -> bool:
    async with uow:
        recorded = await audit.record(uow, event)
        await uow.commit()
    return recorded


async def test_an_event_is_recorded_once_with_its_user_as_actor(uow: FakeUnitOfWork) -> None:
    task_id = uuid.uuid4()
    event = TaskCreated(occurred_at=NOW, user_id="ann", task_id=task_id, data={"title": "Pay"})

    assert await _record(uow, event) is True
    assert await _record(uow, event) is False

    [entry] = uow.tables.audit
    assert entry["action"] == "task.created"
    assert entry["actor"] == "ann"
    assert entry["at"] == NOW
    assert entry["details"] == {"title": "Pay"}


async def test_an_actor_named_in_the_data_does_not_become_the_actor(uow: FakeUnitOfWork) -> None:
    event = TaskCreated(
        occurred_at=NOW, user_id="ann", task_id=uuid.uuid4(), data={"actor": "someone-else"}
    )
    await _record(uow, event)
    assert uow.tables.audit[0]["actor"] == "ann"


async def test_a_rolled_back_delivery_is_recorded_on_redelivery(uow: FakeUnitOfWork) -> None:
    event = TaskCreated(occurred_at=NOW, user_id="ann", task_id=uuid.uuid4())
    async with uow:
        assert await audit.record(uow, event)
    assert uow.tables.audit == []
    assert await _record(uow, event) is True


async def test_the_trail_is_the_callers_newest_first_and_filters_by_task(
    uow: FakeUnitOfWork,
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await _record(uow, TaskCreated(occurred_at=NOW, user_id="ann", task_id=first))
    await _record(uow, TaskCreated(occurred_at=NOW, user_id="ann", task_id=second))
    later = NOW + timedelta(minutes=5)
    await _record(uow, TaskCompleted(occurred_at=later, user_id="ann", task_id=first))
    await _record(uow, TaskCreated(occurred_at=later, user_id="bob", task_id=uuid.uuid4()))

    page = await audit.list_entries(uow, "ann", AuditQuery())
    assert [(e.task_id, e.action) for e in page.items] == [
        (first, "task.completed"),
        (second, "task.created"),
        (first, "task.created"),
    ]
    only_first = await audit.list_entries(uow, "ann", AuditQuery(task_id=first, limit=1))
    assert [(e.task_id, e.action) for e in only_first.items] == [(first, "task.completed")]
