"""The consumers' inbox (processed_events) on a real PostgreSQL: a batch claimed in one
statement answers each event's first_delivery as the one-at-a-time statement would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from store.uow import SqlUnitOfWork
from tests.clocks import FrozenClock

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def uow_factory(engine: AsyncEngine):
    return lambda: SqlUnitOfWork(engine, FrozenClock(NOW))


async def test_a_claimed_batch_answers_each_event_once(uow_factory) -> None:
    seen, fresh, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with uow_factory() as uow:
        assert await uow.inbox.first_delivery("audit", seen)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.inbox.claim("audit", [fresh, seen, fresh])
        assert await uow.inbox.first_delivery("audit", fresh)
        assert not await uow.inbox.first_delivery("audit", fresh)  # a duplicate in the batch
        assert not await uow.inbox.first_delivery("audit", seen)  # handled before
        assert await uow.inbox.first_delivery("audit", other)  # not claimed: asked itself
        assert await uow.inbox.first_delivery("notifier", fresh)  # another consumer's inbox
        await uow.commit()
    async with uow_factory() as uow:
        await uow.inbox.claim("audit", [fresh, other])
        assert not await uow.inbox.first_delivery("audit", fresh)
        assert not await uow.inbox.first_delivery("audit", other)


async def test_a_rolled_back_claim_leaves_the_events_unhandled(uow_factory) -> None:
    event = uuid.uuid4()
    async with uow_factory() as uow:
        await uow.inbox.claim("audit", [event])
        assert await uow.inbox.first_delivery("audit", event)
        # no commit: the consumer's effects failed, so Dapr redelivers the event
    async with uow_factory() as uow:
        assert await uow.inbox.first_delivery("audit", event)


async def test_whether_a_user_has_a_webhook_follows_put_and_remove(uow_factory) -> None:
    user = f"u-{uuid.uuid4()}"
    async with uow_factory() as uow:
        assert not await uow.webhooks.exists(user)
        await uow.webhooks.put(user, "https://example.com/hook", "s" * 32)
        assert await uow.webhooks.exists(user)
        await uow.webhooks.remove(user)
        assert not await uow.webhooks.exists(user)
        await uow.webhooks.put(user, "https://example.com/hook", "s" * 32)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.webhooks.exists(user)
