"""Housekeeping deletes in batches, one short transaction each, until a batch comes up short."""

from __future__ import annotations

from datetime import timedelta

from service.retention import Retention, prune
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW


async def test_each_table_is_pruned_in_batches_past_its_own_window(uow: FakeUnitOfWork) -> None:
    uow.tables.aged = {
        "outbox": [NOW - timedelta(days=9)] * 7 + [NOW - timedelta(days=7)] * 2,
        "processed_events": [NOW - timedelta(days=9)],
        "idempotency_keys": [NOW - timedelta(hours=25)] * 3 + [NOW - timedelta(hours=23)],
    }
    deleted = await prune(lambda: uow, Retention(batch=3))

    assert deleted == {
        "outbox": 7,
        "processed_events": 1,
        "idempotency_keys": 3,
        "webhook_deliveries": 0,
    }
    assert uow.housekeeping.batches == [
        ("outbox", 3),
        ("outbox", 3),
        ("outbox", 1),
        ("processed_events", 1),
        ("idempotency_keys", 3),
        ("idempotency_keys", 0),
        ("webhook_deliveries", 0),
    ]
    assert uow.commits == len(uow.housekeeping.batches)
    assert len(uow.tables.aged["outbox"]) == 2
    assert len(uow.tables.aged["idempotency_keys"]) == 1
