"""The caller's webhook, and settling deliveries that cannot be attempted."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import NotFound, ValidationFailed
from domain.events import TaskCreated
from service import webhooks
from service.webhooks import WebhookIn
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW

SECRET = "0123456789abcdef"


async def test_setting_twice_replaces_the_hook_and_keeps_its_creation_time(
    uow: FakeUnitOfWork,
) -> None:
    first = await webhooks.set_webhook(
        uow, "ann", WebhookIn(url="https://a.example/h", secret=SECRET)
    )
    second = await webhooks.set_webhook(
        uow, "ann", WebhookIn(url="https://b.example/h", secret=SECRET[::-1])
    )
    assert second.url == "https://b.example/h"
    assert second.created_at == first.created_at
    assert uow.tables.webhooks["ann"]["secret"] == SECRET[::-1]
    assert (await webhooks.get_webhook(uow, "ann")).url == "https://b.example/h"


async def test_a_private_url_is_refused_before_anything_is_stored(uow: FakeUnitOfWork) -> None:
    with pytest.raises(ValidationFailed):
        await webhooks.set_webhook(uow, "ann", WebhookIn(url="http://127.0.0.1/h", secret=SECRET))
    assert uow.tables.webhooks == {}


async def test_deleting_a_missing_hook_is_not_found(uow: FakeUnitOfWork) -> None:
    await webhooks.set_webhook(uow, "ann", WebhookIn(url="https://a.example/h", secret=SECRET))
    await webhooks.delete_webhook(uow, "ann")
    with pytest.raises(NotFound):
        await webhooks.delete_webhook(uow, "ann")
    with pytest.raises(NotFound):
        await webhooks.get_webhook(uow, "ann")


async def _scheduled(uow: FakeUnitOfWork, url: str) -> TaskCreated:
    uow.tables.webhooks["ann"] = {"url": url, "secret": SECRET, "created_at": NOW}
    event = TaskCreated(occurred_at=NOW, user_id="ann", task_id=uuid.uuid4())
    async with uow:
        assert await webhooks.schedule(uow, event)
        await uow.commit()
    return event


async def test_a_delivery_to_a_removed_hook_is_cancelled_without_an_attempt(
    uow: FakeUnitOfWork,
) -> None:
    event = await _scheduled(uow, "https://a.example/h")
    del uow.tables.webhooks["ann"]
    assert await webhooks.deliver(uow, event) is True
    [delivery] = uow.tables.deliveries.values()
    assert (delivery["last_status"], delivery["attempts"]) == ("cancelled", 0)
    assert delivery["delivered_at"] is None
    assert await webhooks.deliver(uow, event) is True  # settled: not tried again


async def test_a_delivery_to_a_private_address_is_refused_for_good(uow: FakeUnitOfWork) -> None:
    event = await _scheduled(uow, "http://127.0.0.1:9/h")  # set where private targets were allowed
    assert await webhooks.deliver(uow, event) is True
    [delivery] = uow.tables.deliveries.values()
    assert (delivery["last_status"], delivery["attempts"]) == (webhooks.REFUSED, 0)


async def test_without_a_hook_nothing_is_scheduled(uow: FakeUnitOfWork) -> None:
    event = TaskCreated(occurred_at=NOW, user_id="ann", task_id=uuid.uuid4())
    async with uow:
        assert await webhooks.schedule(uow, event) is False
    assert uow.tables.deliveries == {}
    assert await webhooks.deliver(uow, event) is True  # nothing pending
