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

from service.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class Retention:
    outbox: timedelta = timedelta(days=8)
    processed_events: timedelta = timedelta(days=8)
    idempotency_keys: timedelta = timedelta(hours=24)
    webhook_deliveries: timedelta = timedelta(days=8)
    batch: int = 5000


# The outbox first: a delivery cancelled or refused goes once its event's outbox row has.
_TABLES = ("outbox", "processed_events", "idempotency_keys", "webhook_deliveries")


async def prune(
    uow_factory: UnitOfWorkFactory, retention: Retention = Retention()
) -> dict[str, int]:
    """Delete what has outlived its use; returns the rows deleted per table. One short
    transaction per batch."""
    deleted: dict[str, int] = {}
    for table in _TABLES:
        keep: timedelta = getattr(retention, table)
        deleted[table] = 0
        while True:
            async with uow_factory() as uow:
                count = await uow.housekeeping.prune(table, older_than=keep, limit=retention.batch)
                await uow.commit()
            deleted[table] += count
            if count < retention.batch:
                break
    return deleted
