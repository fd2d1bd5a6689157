"""What actors need from the app, injected through the SDK's actor_factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

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
