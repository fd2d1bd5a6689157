"""Deleting rows that have outlived their use, a small batch at a time (see
service.retention for how long each kind matters)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Each statement deletes at most :n rows older than :keep. Ages are measured on the
# database's clock, which wrote the timestamps.
_AGED = "now() - CAST(:keep AS interval)"
# Every replica prunes. Its batch locks its rows when it picks them, skipping rows another
# transaction holds: two replicas' batches never wait on (or deadlock with) each other, and
# a row being changed is left alone and, when the change commits, picked only if it still
# qualifies. Without the lock, the DELETE would wait for it and then delete it anyway: a
# dead letter's redrive that marks its old outbox row unpublished would be lost.
_PICKED = "FOR UPDATE SKIP LOCKED"
PRUNE = {
    "outbox": (
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
        f"WHERE published_at < {_AGED} ORDER BY id LIMIT :n {_PICKED})"
    ),
    "processed_events": (
        "DELETE FROM processed_events WHERE (consumer, event_id) IN (SELECT consumer, event_id "
        f"FROM processed_events WHERE processed_at < {_AGED} LIMIT :n {_PICKED})"
    ),
    "idempotency_keys": (
        "DELETE FROM idempotency_keys WHERE (user_id, key) IN (SELECT user_id, key "
        f"FROM idempotency_keys WHERE created_at < {_AGED} LIMIT :n {_PICKED})"
    ),
    # settled: delivered, or cancelled or refused with their event gone from the outbox
    "webhook_deliveries": (
        "DELETE FROM webhook_deliveries WHERE delivery_id IN (SELECT d.delivery_id "
        f"FROM webhook_deliveries d WHERE d.delivered_at < {_AGED} OR (d.last_status IN "
        "('cancelled', 'refused') AND NOT EXISTS (SELECT 1 FROM outbox o "
        f"WHERE o.event_id = d.event_id)) LIMIT :n {_PICKED})"
    ),
}


class SqlHousekeeping:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def prune(self, table: str, *, older_than: timedelta, limit: int) -> int:
        result = await self._conn.execute(text(PRUNE[table]), {"keep": older_than, "n": limit})
        return result.rowcount
