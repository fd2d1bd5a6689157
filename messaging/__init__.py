"""Messaging: the outbox relay that publishes events through Dapr pub/sub, and the consumers
that Dapr delivers them to (messaging.consumers). The consumers' routes are always served;
the relay runs only beside a Dapr sidecar. What the consumers store is read over HTTP by
api/routes (notifications, audit, webhooks, stream).
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter

from messaging.consumers import Consumer, subscriptions_router
from messaging.relay import Relay
from store.uow import UnitOfWorkFactory


class EventsRuntime:
    def __init__(
        self,
        pubsub: str,
        *,
        scheduler: Consumer | None = None,
        private_webhooks: bool = False,
    ) -> None:
        self._pubsub = pubsub
        self.router: APIRouter = subscriptions_router(
            scheduler=scheduler, private_webhooks=private_webhooks
        )
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
