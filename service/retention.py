"""Housekeeping: rows that exist only to make delivery exactly-once or retries safe are kept
as long as they can matter, then deleted in small batches (short locks, no long transaction).

- Published outbox rows: their events are out; a change-feed client reconnecting within the
  window can still be replayed from them.
- Processed events (the consumers' inbox): as long as a redelivery can still arrive. Kafka's
  default retention is 7 days and the dev sidecar keeps messages 168 h, so 8 days.
- Idempotency keys: a retried request within 24 h gets the first result, as most APIs
  promise.
- Webhook deliveries once settled: delivered, or cancelled or refused with their event gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from store.uow import UnitOfWorkFactory


@dataclass(frozen=True)
class Retention:
    outbox: timedelta = timedelta(days=8)
    processed_events: timedelta = timedelta(days=8)
    idempotency_keys: timedelta = timedelta(hours=24)
    webhook_deliveries: timedelta = timedelta(days=8)
    batch: int = 5000


# Each statement deletes at most :n rows older than :keep. Ages are measured on the
# database's clock, which wrote the timestamps.
_AGED = "now() - CAST(:keep AS interval)"
_PRUNE = {
    "outbox": (
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
        f"WHERE published_at < {_AGED} ORDER BY id LIMIT :n)"
    ),
    "processed_events": (
        "DELETE FROM processed_events WHERE (consumer, event_id) IN (SELECT consumer, event_id "
        f"FROM processed_events WHERE processed_at < {_AGED} LIMIT :n)"
    ),
    "idempotency_keys": (
        "DELETE FROM idempotency_keys WHERE (user_id, key) IN (SELECT user_id, key "
        f"FROM idempotency_keys WHERE created_at < {_AGED} LIMIT :n)"
    ),
    "webhook_deliveries": (
        "DELETE FROM webhook_deliveries WHERE delivery_id IN (SELECT d.delivery_id "
        f"FROM webhook_deliveries d WHERE d.delivered_at < {_AGED} OR (d.last_status IN "
        "('cancelled', 'refused') AND NOT EXISTS (SELECT 1 FROM outbox o "
        "WHERE o.event_id = d.event_id)) LIMIT :n)"
    ),
}


async def prune(
    uow_factory: UnitOfWorkFactory, retention: Retention = Retention()
) -> dict[str, int]:
    """Delete what has outlived its use; returns the rows deleted per table."""
    deleted: dict[str, int] = {}
    for table, sql in _PRUNE.items():
        keep: timedelta = getattr(retention, table)
        deleted[table] = 0
        while True:
            async with uow_factory() as uow:
                result = await uow.conn.execute(text(sql), {"keep": keep, "n": retention.batch})
                await uow.commit()
            deleted[table] += result.rowcount
            if result.rowcount < retention.batch:
                break
    return deleted
