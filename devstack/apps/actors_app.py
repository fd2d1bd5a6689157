"""A Dapr actor app for the sidecar's actor tests and benches, built only on the official SDK.

`CounterActor` keeps daprd's default idle timeout (1 h); `EphemeralActor`, the same code,
is deactivated after 1 s idle, so tests can watch deactivation; `ReentrantActor` has
reentrancy on. What the actors see (reminder
and timer callbacks, deactivations) is recorded in `EVENTS`, served at `GET /test/events`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from dapr.actor import Actor, ActorInterface, ActorProxy, Remindable, actormethod
from dapr.actor.runtime.config import (
    ActorReentrancyConfig,
    ActorRuntimeConfig,
    ActorTypeConfig,
)
from dapr.actor.runtime.failure_policy import ActorReminderFailurePolicy
from dapr.actor.runtime.runtime import ActorRuntime
from dapr.ext.fastapi import DaprActor
from fastapi import FastAPI

EVENTS: list[dict[str, Any]] = []
ATTEMPTS: Counter[tuple[str, str]] = Counter()  # reminder deliveries per (actor id, name)


class CounterActorInterface(ActorInterface):
    @actormethod(name="Increment")
    async def increment(self) -> int: ...

    @actormethod(name="GetCount")
    async def get_count(self) -> int: ...

    @actormethod(name="SetValue")
    async def set_value(self, spec: dict) -> None: ...

    @actormethod(name="GetValue")
    async def get_value(self, key: str) -> Any: ...

    @actormethod(name="SaveTwoKeys")
    async def save_two_keys(self, spec: dict) -> None: ...

    @actormethod(name="StartReminder")
    async def start_reminder(self, spec: dict) -> None: ...

    @actormethod(name="StopReminder")
    async def stop_reminder(self, name: str) -> None: ...

    @actormethod(name="StartTimer")
    async def start_timer(self, spec: dict) -> None: ...

    @actormethod(name="StopTimer")
    async def stop_timer(self, name: str) -> None: ...

    @actormethod(name="Fail")
    async def fail(self) -> None: ...

    @actormethod(name="CallSelf")
    async def call_self(self) -> int: ...


def _record(kind: str, actor: Actor, **fields: Any) -> None:
    EVENTS.append(
        {"kind": kind, "type": type(actor).__name__, "actor": actor.id.id, "at": time.time()}
        | fields
    )


class CounterActor(Actor, CounterActorInterface, Remindable):
    async def _on_deactivate(self) -> None:
        _record("deactivated", self)

    async def increment(self) -> int:
        # Read, yield to the loop, write: without turn-based calls, concurrent calls lose updates.
        _, count = await self._state_manager.try_get_state("count")
        await asyncio.sleep(0.002)
        count = (count or 0) + 1
        await self._state_manager.set_state("count", count)
        await self._state_manager.save_state()
        return count

    async def get_count(self) -> int:
        _, count = await self._state_manager.try_get_state("count")
        return count or 0

    async def set_value(self, spec: dict) -> None:
        await self._state_manager.set_state_ttl(spec["key"], spec["value"], spec.get("ttl"))
        await self._state_manager.save_state()

    async def get_value(self, key: str) -> Any:
        _, value = await self._state_manager.try_get_state(key)
        return value

    async def save_two_keys(self, spec: dict) -> None:
        for key, value in spec.items():
            await self._state_manager.set_state(key, value)
        await self._state_manager.save_state()

    async def start_reminder(self, spec: dict) -> None:
        """spec: name, due (s), period (s, or a Dapr period string such as "R3/PT0.2S"), data,
        ttl (s), drop_failures (the SDK's drop failure policy)."""
        period = spec.get("period")
        ttl = spec.get("ttl")
        await self.register_reminder(
            spec["name"],
            json.dumps(spec.get("data", {})).encode(),
            timedelta(seconds=spec.get("due", 0)),
            timedelta(seconds=period) if isinstance(period, int | float) else period,
            ttl=None if ttl is None else timedelta(seconds=ttl),
            failure_policy=ActorReminderFailurePolicy.drop_policy()
            if spec.get("drop_failures")
            else None,
        )

    async def stop_reminder(self, name: str) -> None:
        await self.unregister_reminder(name)

    async def start_timer(self, spec: dict) -> None:
        """spec: name, due (s), period (s; 0 or omitted: the SDK sends `0h0m0s0ms0μs`),
        hold_first (s the first callback keeps its turn)."""
        await self.register_timer(
            spec["name"],
            self.on_timer,
            {"name": spec["name"], "hold_first": spec.get("hold_first", 0)},
            timedelta(seconds=spec.get("due", 0)),
            timedelta(seconds=spec.get("period", 0)),
        )

    async def stop_timer(self, name: str) -> None:
        await self.unregister_timer(name)

    async def fail(self) -> None:
        raise ValueError("this method always fails")

    async def call_self(self) -> int:
        """Calls back into this same actor while holding its turn: needs reentrancy."""
        me = ActorProxy.create(type(self).__name__, self.id, CounterActorInterface)
        return await me.GetCount() + 100

    async def on_timer(self, spec: dict) -> None:
        name = spec["name"]
        first = not any(e["kind"] == "timer" and e["name"] == name for e in EVENTS)
        _record("timer", self, name=name)
        if first and spec["hold_first"]:
            await asyncio.sleep(spec["hold_first"])  # keep the turn: later ticks fall due

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        data = json.loads(state) if state else {}
        ATTEMPTS[self.id.id, name] += 1
        attempts = ATTEMPTS[self.id.id, name]
        _record(
            "reminder-attempt",
            self,
            name=name,
            data=data,
            due_time=str(due_time),
            period=str(period),
            ttl=None if ttl is None else str(ttl),
        )
        if hold := data.get("hold"):
            await asyncio.sleep(hold)  # keep this delivery in flight for the test
        if attempts <= data.get("fail_times", 0):
            raise RuntimeError(f"failing attempt {attempts} on purpose")
        _record("reminder", self, name=name, data=data)


class EphemeralActor(CounterActor, Remindable):
    """Deactivated after 1 s idle (see the lifespan's config)."""


class ReentrantActor(CounterActor, Remindable):
    """Reentrancy on: a call chain may call back into the actor holding its turn."""


@asynccontextmanager
async def lifespan(app: FastAPI):
    ActorRuntime.set_actor_config(
        ActorRuntimeConfig(
            actor_scan_interval=timedelta(milliseconds=200),
            actor_type_configs=[
                ActorTypeConfig("EphemeralActor", actor_idle_timeout=timedelta(seconds=1)),
                ActorTypeConfig("ReentrantActor", reentrancy=ActorReentrancyConfig(enabled=True)),
            ],
        )
    )
    await actors.register_actor(CounterActor)
    await actors.register_actor(EphemeralActor)
    await actors.register_actor(ReentrantActor)
    yield


app = FastAPI(lifespan=lifespan)
actors = DaprActor(app)


@app.get("/test/events")
async def events(kind: str | None = None, actor: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in EVENTS
        if (kind is None or e["kind"] == kind) and (actor is None or e["actor"] == actor)
    ]
