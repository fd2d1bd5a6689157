"""What actors need from the app, injected through the SDK's actor_factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.clock import Clock
from store.uow import SqlUnitOfWork


@dataclass(frozen=True)
class ActorDeps:
    uow_factory: Callable[[], SqlUnitOfWork]
    clock: Clock
    # start the skip saga for a task (the series actor rolls an overdue occurrence forward)
    start_skip: Callable[[str, str], Awaitable[None]]
    overdue_grace: timedelta = timedelta(hours=1)
    retry_delay: timedelta = timedelta(seconds=5)


def instant(value: datetime | str) -> datetime:
    """A time from actor state or a method argument: the SDK's JSON serializer turns ISO
    strings into datetimes on the way in, so both forms arrive; the result is aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError(f"time without an offset: {value!r}")
    return value.astimezone(UTC)
