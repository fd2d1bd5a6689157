"""Actor timers: in memory only, they die with the actor's deactivation."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sidecar import clock
from sidecar.actors.channel import ActorChannel, AppCallFailed, AppUnreachable
from sidecar.actors.placement import ActiveActor, ActorTable
from sidecar.durations import Period, parse_instant_or_offset, parse_period

log = logging.getLogger(__name__)
_JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class TimerSpec:
    callback: str
    data: Any
    due_at: datetime
    period: Period | None
    expires_at: datetime | None

    @classmethod
    def parse(cls, body: dict[str, Any]) -> TimerSpec:
        now = clock.now()
        return cls(
            callback=body.get("callback") or "",
            data=body.get("data"),
            due_at=parse_instant_or_offset(body.get("dueTime"), now) or now,
            period=parse_period(body.get("period")),
            expires_at=parse_instant_or_offset(body.get("ttl"), now),
        )


class Timer:
    """One running timer; `stop()` never interrupts a callback already being delivered."""

    def __init__(
        self, table: ActorTable, app: ActorChannel, actor: ActiveActor, name: str, spec: TimerSpec
    ) -> None:
        self._table = table
        self._app = app
        self._actor = actor
        self.name = name
        self._spec = spec
        self._body = json.dumps({"callback": spec.callback, "data": spec.data}).encode()
        self._stopped = False
        self._delivering = False
        self._task = asyncio.create_task(self._run(), name=f"timer-{name}")

    def stop(self) -> None:
        self._stopped = True
        self._forget()
        if not self._delivering:
            self._task.cancel()

    def _forget(self) -> None:
        if self._actor.timers.get(self.name) is self:
            del self._actor.timers[self.name]

    async def _run(self) -> None:
        spec = self._spec
        fire_at = spec.due_at
        left = spec.period.repetitions if spec.period else 1
        path = f"/actors/{self._actor.actor_type}/{self._actor.actor_id}/method/timer/{self.name}"
        while not self._stopped and (left is None or left > 0):
            if spec.expires_at is not None and fire_at > spec.expires_at:
                break
            while fire_at > clock.now():  # the timer's own schedule
                await clock.sleep_until(fire_at)
            await self._table.turn(
                self._actor.actor_type, self._actor.actor_id, lambda: self._fire(path)
            )
            if spec.period is None:
                break
            left = None if left is None else left - 1
            # Ticks missed while a callback ran long come back to back, as daprd catches
            # them up, rather than collapsing into one.
            fire_at = fire_at + spec.period.interval
        self._forget()

    async def _fire(self, path: str) -> None:
        if self._stopped:  # unregistered while waiting for the turn
            return
        self._delivering = True
        try:
            reply = await self._app.call("PUT", path, self._body, _JSON)
            if reply.status >= 300:
                log.warning("timer %s: app answered %s", path, reply.status)
        except (AppUnreachable, AppCallFailed) as exc:
            log.warning("timer %s failed: %s", path, exc)
        finally:
            self._delivering = False


class Timers:
    def __init__(self, table: ActorTable, app: ActorChannel) -> None:
        self._table = table
        self._app = app

    def register(self, actor_type: str, actor_id: str, name: str, spec: TimerSpec) -> None:
        actor = self._table.activate(actor_type, actor_id)
        if (old := actor.timers.get(name)) is not None:
            old.stop()
        actor.timers[name] = Timer(self._table, self._app, actor, name, spec)

    def unregister(self, actor_type: str, actor_id: str, name: str) -> None:
        actor = self._table.active(actor_type, actor_id)
        if actor is not None and (timer := actor.timers.get(name)) is not None:
            timer.stop()
