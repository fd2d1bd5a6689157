"""Webhooks (one per user) and their deliveries (one per event)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from store.tables import Webhook, WebhookDelivery

_hooks = Webhook.__table__
_deliveries = WebhookDelivery.__table__


class SqlWebhooks:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        # a notifier's batch asks once per event, mostly about the same few users
        self._has_hook: dict[str, bool] = {}

    async def put(self, user_id: str, url: str, secret: str) -> RowMapping:
        values = {"url": url, "secret": secret}
        result = await self._conn.execute(
            insert(_hooks)
            .values(user_id=user_id, **values)
            .on_conflict_do_update(index_elements=[_hooks.c.user_id], set_=values)
            .returning(_hooks.c.url, _hooks.c.created_at)
        )
        self._has_hook[user_id] = True
        return result.mappings().one()

    async def get(self, user_id: str) -> RowMapping | None:
        result = await self._conn.execute(
            select(_hooks.c.url, _hooks.c.created_at).where(_hooks.c.user_id == user_id)
        )
        return result.mappings().first()

    async def remove(self, user_id: str) -> bool:
        result = await self._conn.execute(delete(_hooks).where(_hooks.c.user_id == user_id))
        self._has_hook[user_id] = False
        return result.rowcount > 0

    async def exists(self, user_id: str) -> bool:
        """Asked once per transaction and user (put and remove keep the answer)."""
        if user_id not in self._has_hook:
            found = await self._conn.scalar(
                select(_hooks.c.user_id).where(_hooks.c.user_id == user_id)
            )
            self._has_hook[user_id] = found is not None
        return self._has_hook[user_id]

    async def add_delivery(self, delivery_id: uuid.UUID, event_id: uuid.UUID, user_id: str) -> None:
        await self._conn.execute(
            insert(_deliveries)
            .values(delivery_id=delivery_id, event_id=event_id, user_id=user_id, attempts=0)
            .on_conflict_do_nothing()
        )

    async def pending_delivery(
        self, event_id: uuid.UUID, *, settled: Collection[str]
    ) -> RowMapping | None:
        """The delivery row stays locked until the transaction ends (FOR UPDATE OF the
        delivery alone), so concurrent redeliveries of one event wait for each other."""
        result = await self._conn.execute(
            select(_deliveries.c.delivery_id, _hooks.c.url, _hooks.c.secret)
            .join(_hooks, _hooks.c.user_id == _deliveries.c.user_id, isouter=True)
            .where(
                _deliveries.c.event_id == event_id,
                _deliveries.c.delivered_at.is_(None),
                or_(
                    _deliveries.c.last_status.is_(None),
                    _deliveries.c.last_status.not_in(settled),
                ),
            )
            .with_for_update(of=_deliveries)
        )
        return result.mappings().first()

    async def settle_delivery(
        self,
        delivery_id: uuid.UUID,
        *,
        status: str,
        attempted: bool,
        delivered_at: datetime | None,
    ) -> None:
        values: dict[str, object] = {
            "attempts": _deliveries.c.attempts + (1 if attempted else 0),
            "last_status": status,
        }
        if delivered_at is not None:
            values["delivered_at"] = delivered_at
        await self._conn.execute(
            update(_deliveries).where(_deliveries.c.delivery_id == delivery_id).values(**values)
        )
