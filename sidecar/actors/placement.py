"""Single-host placement: which actors are active, whose turn it is, and idle deactivation.

Every call into an actor (method, timer, reminder) runs inside `ActorTable.turn`, so one actor
id handles one call at a time: the app's SDK has no per-actor lock of its own. A call carrying
the reentrancy id of the call chain that holds the turn re-enters instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sidecar.actors.channel import ActorChannel, AppCallFailed, AppUnreachable
from sidecar.actors.config import ActorConfig

if TYPE_CHECKING:
    from sidecar.actors.timers import Timer

log = logging.getLogger(__name__)
T = TypeVar("T")
ActorKey = tuple[str, str]


class ReentrancyLimitError(RuntimeError):
    """A call chain re-entered an actor more often than the type's maxStackDepth allows."""


@dataclass(eq=False)
class ActiveActor:
    actor_type: str
    actor_id: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)
    pending: int = 0  # calls running or waiting for the turn
    holder: str | None = None  # reentrancy id of the call chain holding the turn
    depth: int = 0
    deactivated: bool = False
    timers: dict[str, Timer] = field(default_factory=dict)


class ActorTable:
    def __init__(self, app: ActorChannel) -> None:
        self._app = app
        self._actors: dict[ActorKey, ActiveActor] = {}
        self.config = ActorConfig()
        self._scanner: asyncio.Task | None = None

    def start(self, config: ActorConfig) -> None:
        self.config = config
        self._scanner = asyncio.create_task(self._scan_forever(), name="actor-idle-scan")

    async def stop(self) -> None:
        if self._scanner is not None:
            self._scanner.cancel()
        for actor in list(self._actors.values()):
            for timer in list(actor.timers.values()):
                timer.stop()

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for actor_type, _ in self._actors:
            counts[actor_type] = counts.get(actor_type, 0) + 1
        return counts

    def active(self, actor_type: str, actor_id: str) -> ActiveActor | None:
        return self._actors.get((actor_type, actor_id))

    def activate(self, actor_type: str, actor_id: str) -> ActiveActor:
        key = (actor_type, actor_id)
        actor = self._actors.get(key)
        if actor is None:
            actor = self._actors[key] = ActiveActor(actor_type, actor_id)
        return actor

    async def turn(
        self,
        actor_type: str,
        actor_id: str,
        call: Callable[[], Awaitable[T]],
        reentrancy_id: str | None = None,
    ) -> T:
        """Run `call` as this actor's turn, activating the actor if it is not active."""
        while True:
            actor = self.activate(actor_type, actor_id)
            actor.pending += 1
            try:
                if reentrancy_id is not None and actor.holder == reentrancy_id:
                    return await self._reenter(actor, call)
                async with actor.lock:
                    if actor.deactivated:
                        continue  # deactivated while we waited: activate a fresh one
                    actor.holder = reentrancy_id
                    try:
                        return await call()
                    finally:
                        actor.holder = None
                        actor.last_used = time.monotonic()
            finally:
                actor.pending -= 1

    async def _reenter(self, actor: ActiveActor, call: Callable[[], Awaitable[T]]) -> T:
        limit = self.config.for_type(actor.actor_type).max_stack_depth
        if actor.depth + 1 >= limit:
            raise ReentrancyLimitError(f"maximum reentrancy stack depth {limit} reached")
        actor.depth += 1
        try:
            return await call()
        finally:
            actor.depth -= 1

    async def _scan_forever(self) -> None:
        interval = self.config.scan_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)  # daprd's actorScanInterval: a periodic sweep
            now = time.monotonic()
            for actor in list(self._actors.values()):
                idle = self.config.for_type(actor.actor_type).idle_timeout.total_seconds()
                if actor.pending == 0 and now - actor.last_used >= idle:
                    await self._deactivate(actor, idle)

    async def _deactivate(self, actor: ActiveActor, idle: float) -> None:
        async with actor.lock:
            # A call may have slipped in while the scan looked at other actors.
            if actor.pending or time.monotonic() - actor.last_used < idle:
                return
            for timer in list(actor.timers.values()):
                timer.stop()
            try:
                await self._app.call("DELETE", f"/actors/{actor.actor_type}/{actor.actor_id}")
            except (AppUnreachable, AppCallFailed) as exc:
                log.warning("deactivating %s/%s: %s", actor.actor_type, actor.actor_id, exc)
            actor.deactivated = True
            self._actors.pop((actor.actor_type, actor.actor_id), None)
