"""What actors need from the app, injected through the SDK's actor_factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.clock import Clock
from store.uow import SqlUnitOfWork


@dataclass(frozen=True)
class ActorDeps:
    uow_factory: Callable[[], SqlUnitOfWork]
    clock: Clock
    # start the skip saga for a task (the series actor rolls an overdue occurrence forward)
    start_skip: Callable[[str, str], Awaitable[None]]
    overdue_grace: timedelta = timedelta(hours=1)
    retry_delay: timedelta = timedelta(seconds=5)


def instant(value: str) -> datetime:
    """A time kept in actor state as an ISO string (actors/serializer.py reads state back as
    plain JSON), as aware UTC."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"time without an offset: {value!r}")
    return moment.astimezone(UTC)
