"""The stream hub each replica's live listener feeds: a user's streams get only that user's
events, and a stream that may have missed some is ended, for its client to be replayed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from api.routes.stream import QUEUE_SIZE, LiveHub
from domain.events import Event, TaskCreated


def created(user: str) -> TaskCreated:
    return TaskCreated(
        occurred_at=datetime(2027, 1, 4, tzinfo=UTC), user_id=user, task_id=uuid.uuid4()
    )


def drain(queue) -> list[Event | None]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def test_a_users_streams_get_their_events_and_no_one_elses() -> None:
    hub = LiveHub()
    mine, theirs = created("alice"), created("bob")
    with hub.listen("alice") as first, hub.listen("alice") as second, hub.listen("bob") as bob:
        assert hub.wants("alice") and not hub.wants("carol")
        hub.publish(mine)
        hub.publish(theirs)
        assert drain(first) == drain(second) == [mine]
        assert drain(bob) == [theirs]
    assert not hub.wants("alice")


def test_resync_ends_every_open_stream_once() -> None:
    hub = LiveHub()
    with hub.listen("alice") as alice, hub.listen("bob") as bob:
        hub.publish(created("alice"))
        hub.resync()
        hub.resync()
        # what was queued is dropped: the reconnecting client is replayed it
        assert drain(alice) == [None]
        assert drain(bob) == [None]


def test_a_stream_that_falls_behind_is_ended_rather_than_left_with_a_gap() -> None:
    hub = LiveHub()
    with hub.listen("alice") as slow:
        for _ in range(QUEUE_SIZE + 5):
            hub.publish(created("alice"))
        assert drain(slow) == [None]
