"""Events: the outbox relay, the Dapr subscribers and the HTTP routes that read their output.

The routes are always served; the relay runs only beside a Dapr sidecar.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter

from api.events import routes
from api.events.live import LiveHub, stream_router
from api.events.relay import Relay
from api.events.subscribers import Consumer, subscriptions_router
from store.uow import UnitOfWorkFactory


class EventsRuntime:
    def __init__(
        self, pubsub: str, *, scheduler: Consumer | None = None, private_webhooks: bool = False
    ) -> None:
        self._pubsub = pubsub
        self.live = LiveHub()
        self.routers: list[APIRouter] = [
            routes.router,
            stream_router(self.live),
            subscriptions_router(self.live, scheduler=scheduler, private_webhooks=private_webhooks),
        ]
        self._relay: Relay | None = None
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called on every commit that wrote outbox rows: publish them now."""
        if self._relay is not None:
            self._relay.wake()

    async def start(self, uow_factory: UnitOfWorkFactory) -> None:
        self._relay = Relay(uow_factory, self._pubsub)
        self._task = asyncio.create_task(self._relay.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = self._relay = None
