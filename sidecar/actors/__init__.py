"""Dapr virtual actors on a single host: invocation, state, timers and reminders."""

from __future__ import annotations

import asyncpg

from sidecar.actors.channel import ActorChannel
from sidecar.actors.config import ActorConfig
from sidecar.actors.placement import ActorTable
from sidecar.actors.reminders import ReminderStore
from sidecar.actors.routes import actor_routes
from sidecar.actors.scheduler import ReminderScheduler
from sidecar.actors.state import ActorStateStore
from sidecar.actors.timers import Timers
from sidecar.app_channel import AppChannel

__all__ = ["ActorConfig", "ActorService"]


class ActorService:
    """Everything behind `/v1.0/actors/...`; `start` once the app's config is known."""

    def __init__(self, app: AppChannel, app_id: str, pool: asyncpg.Pool, state_table: str) -> None:
        self._channel = ActorChannel(app.base_url)
        self.table = ActorTable(self._channel)
        self.state = ActorStateStore(pool, app_id, state_table)
        self.timers = Timers(self.table, self._channel)
        self._reminder_store = ReminderStore(pool)
        self.reminders = ReminderScheduler(self._reminder_store, self.table, self._channel)
        self.ready = False
        self.routes = actor_routes(self, self._channel)

    async def prepare(self) -> None:
        """Create the tables; safe before the app is up."""
        await self.state.create_table()
        await self._reminder_store.create_table()

    async def start(self, config: ActorConfig) -> None:
        self.table.start(config)
        await self.reminders.start(config.entities)
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        await self.reminders.stop()
        await self.table.stop()
        await self._channel.close()

    def counts(self) -> dict[str, int]:
        return self.table.counts()
