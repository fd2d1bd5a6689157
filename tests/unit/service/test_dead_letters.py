"""Keeping dead letters, paging them, and settling one once: redrive or discard."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.errors import Conflict, NotFound
from domain.events import TASK_EVENTS, TaskCreated
from service import dead_letters
from service.dead_letters import Arrival, DeadLetterQuery, DeadLetterState
from tests.clocks import FrozenClock
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW


def _arrival(topic: str | None = TASK_EVENTS) -> tuple[Arrival, TaskCreated]:
    event = TaskCreated(occurred_at=NOW, user_id="ann", task_id=uuid.uuid4())
    envelope = {"id": str(event.event_id), "topic": topic, "data": event.model_dump(mode="json")}
    return Arrival(event_id=str(event.event_id), topic=topic, event=envelope, reason="r"), event


async def _kept(
    uow: FakeUnitOfWork, topic: str | None = TASK_EVENTS
) -> tuple[uuid.UUID, TaskCreated]:
    arrived, event = _arrival(topic)
    await dead_letters.keep(uow, arrived)
    [row] = [r for r in uow.tables.dead_letters.values() if r["event_id"] == arrived.event_id]
    return row["id"], event


async def test_a_second_arrival_adds_to_the_first(uow: FakeUnitOfWork, clock: FrozenClock) -> None:
    arrived, _ = _arrival()
    assert await dead_letters.keep(uow, arrived) == 1
    clock.advance(timedelta(minutes=1))
    assert await dead_letters.keep(uow, arrived) == 2
    [row] = uow.tables.dead_letters.values()
    assert (row["first_seen"], row["last_seen"]) == (NOW, NOW + timedelta(minutes=1))


async def test_a_redrive_republishes_the_event_to_its_topic_and_settles_it(
    uow: FakeUnitOfWork,
) -> None:
    dead_letter_id, event = await _kept(uow)
    settled = await dead_letters.redrive(uow, dead_letter_id, "op")
    assert (settled.state, settled.settled_by, settled.settled_at) == (
        DeadLetterState.REDRIVEN,
        "op",
        NOW,
    )
    assert uow.tables.redriven == [(event, TASK_EVENTS)]
    assert [e.event_id for e in uow.published] == [event.event_id]
    with pytest.raises(Conflict):
        await dead_letters.discard(uow, dead_letter_id, "op")


async def test_without_a_known_topic_it_cannot_be_redriven_only_discarded(
    uow: FakeUnitOfWork,
) -> None:
    dead_letter_id, _ = await _kept(uow, topic=None)
    with pytest.raises(Conflict):
        await dead_letters.redrive(uow, dead_letter_id, "op")
    assert uow.tables.redriven == []
    assert (await dead_letters.discard(uow, dead_letter_id, "op")).state == "discarded"
    with pytest.raises(NotFound):
        await dead_letters.discard(uow, uuid.uuid4(), "op")


async def test_pages_run_newest_first_and_follow_the_cursor(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    ids = []
    for _ in range(3):
        ids.append((await _kept(uow))[0])
        clock.advance(timedelta(seconds=1))
    first = await dead_letters.list_dead_letters(uow, DeadLetterQuery(limit=2))
    assert [d.id for d in first.items] == [ids[2], ids[1]]
    rest = await dead_letters.list_dead_letters(
        uow, DeadLetterQuery(limit=2, cursor=first.next_cursor)
    )
    assert ([d.id for d in rest.items], rest.next_cursor) == ([ids[0]], None)
    await dead_letters.discard(uow, ids[1], "op")
    kept = await dead_letters.list_dead_letters(uow, DeadLetterQuery(state="kept"))
    assert [d.id for d in kept.items] == [ids[2], ids[0]]


async def test_a_bulk_discard_names_the_dry_runs_count_and_settles_each_once(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    for _ in range(3):
        await _kept(uow)
    factory = lambda: FakeUnitOfWork(clock, uow.tables)  # noqa: E731
    dry = await dead_letters.settle_all(factory, dead_letters.BulkSettle(verb="discard"), "olga")
    assert (dry.dry_run, dry.count, len(dry.sample)) == (True, 3, 3)
    with pytest.raises(Conflict, match="3 dead letters are kept now, not 2"):
        await dead_letters.settle_all(
            factory, dead_letters.BulkSettle(verb="discard", count=2), "olga"
        )
    done = await dead_letters.settle_all(
        factory, dead_letters.BulkSettle(verb="discard", count=3), "olga"
    )
    assert (done.done, done.skipped) == (3, 0)
    assert {r["state"] for r in uow.tables.dead_letters.values()} == {"discarded"}
    with pytest.raises(Conflict, match="0 dead letters are kept now"):  # a resend does nothing
        await dead_letters.settle_all(
            factory, dead_letters.BulkSettle(verb="discard", count=3), "olga"
        )


async def test_a_bulk_redrive_requeues_each_kept_event(
    uow: FakeUnitOfWork, clock: FrozenClock
) -> None:
    events = [(await _kept(uow))[1] for _ in range(2)]
    factory = lambda: FakeUnitOfWork(clock, uow.tables)  # noqa: E731
    done = await dead_letters.settle_all(
        factory, dead_letters.BulkSettle(verb="redrive", count=2), "olga"
    )
    assert (done.done, done.skipped) == (2, 0)
    assert sorted(e.event_id for e, _ in uow.tables.redriven) == sorted(e.event_id for e in events)
