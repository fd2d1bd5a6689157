"""The caller's webhook, and delivering notifications to it.

Each POST is signed: `X-Tickler-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`. The
delivery id (`X-Tickler-Delivery`) is created once per event and sent with every attempt, so
a receiver can tell a retry from a new event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from datetime import datetime

import httpx
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from domain.errors import NotFound
from domain.events import Event
from service.unit_of_work import UnitOfWork
from service.webhook_targets import RefusedTarget, Target, check_url, pin

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(5.0)
REFUSED = "refused"  # the target is not a public address: never attempted
SETTLED_UNDELIVERED = ("cancelled", REFUSED)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(max_length=2000, examples=["https://example.com/tickler"])
    secret: str = Field(
        min_length=16,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]+$",  # PostgreSQL text cannot hold NUL
        description="HMAC-SHA256 signing key (no control characters)",
    )


class WebhookPublic(BaseModel):
    """The secret is write-only: it is never echoed back."""

    url: str
    created_at: datetime


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def set_webhook(
    uow: UnitOfWork, user_id: str, cmd: WebhookIn, *, allow_private: bool = False
) -> WebhookPublic:
    """`allow_private`: let the URL name loopback and private addresses (dev and tests)."""
    check_url(str(cmd.url), allow_private=allow_private)
    async with uow:
        row = await uow.webhooks.put(user_id, str(cmd.url), cmd.secret)
        await uow.commit()
    return WebhookPublic(url=row["url"], created_at=row["created_at"])


async def get_webhook(uow: UnitOfWork, user_id: str) -> WebhookPublic:
    async with uow.reading():
        row = await uow.webhooks.get(user_id)
    if row is None:
        raise NotFound("no webhook is configured")
    return WebhookPublic(url=row["url"], created_at=row["created_at"])


async def delete_webhook(uow: UnitOfWork, user_id: str) -> None:
    async with uow:
        removed = await uow.webhooks.remove(user_id)
        await uow.commit()
    if not removed:
        raise NotFound("no webhook is configured")


async def schedule(uow: UnitOfWork, event: Event) -> bool:
    """Inside the notifier's transaction: give `event` a delivery if the user has a webhook.
    True when there is one to attempt."""
    has_hook = await uow.webhooks.exists(event.user_id)
    if has_hook:
        await uow.webhooks.add_delivery(uuid.uuid4(), event.event_id, event.user_id)
    return has_hook


async def deliver(uow: UnitOfWork, event: Event, *, allow_private: bool = False) -> bool:
    """Attempt the pending delivery of `event`, if any. False means try again later.

    The delivery row stays locked during the POST, so concurrent redeliveries of one event
    never reach the receiver at the same time. A target that resolves to a non-public
    address (see service.webhook_targets) is refused for good, not retried."""
    async with uow:
        row = await uow.webhooks.pending_delivery(event.event_id, settled=SETTLED_UNDELIVERED)
        if row is None:
            return True
        delivery_id = row["delivery_id"]
        if row["url"] is None:  # the webhook was removed since: nothing left to deliver to
            await _settle(uow, delivery_id, "cancelled", delivered=False)
            return True
        try:
            target = await pin(row["url"], allow_private=allow_private)
        except RefusedTarget as exc:
            log.warning("webhook delivery %s refused: %s", delivery_id, exc)
            await _settle(uow, delivery_id, REFUSED, delivered=False)
            return True
        except OSError as exc:  # the name does not resolve now: try again later
            log.warning("webhook delivery %s: cannot resolve its host: %s", delivery_id, exc)
            await _settle(uow, delivery_id, "unresolved", delivered=False)
            return False
        status, ok = await _post(target, row["secret"], delivery_id, event)
        await _settle(uow, delivery_id, status, delivered=ok)
        return ok


async def _post(
    target: Target, secret: str, delivery_id: uuid.UUID, event: Event
) -> tuple[str, bool]:
    body = json.dumps(event.model_dump(mode="json"), separators=(",", ":")).encode()
    headers = {
        **target.headers,
        "content-type": "application/json",
        "x-tickler-signature": sign(secret, body),
        "x-tickler-delivery": str(delivery_id),
        "x-tickler-event": event.type,
    }
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            response = await client.post(
                target.url, content=body, headers=headers, extensions=target.extensions
            )
    except httpx.HTTPError as exc:
        log.warning("webhook delivery %s failed: %s", delivery_id, exc)
        return type(exc).__name__, False
    if not response.is_success:
        log.warning("webhook delivery %s answered %s", delivery_id, response.status_code)
    return str(response.status_code), response.is_success


async def _settle(uow: UnitOfWork, delivery_id: uuid.UUID, status: str, *, delivered: bool) -> None:
    await uow.webhooks.settle_delivery(
        delivery_id,
        status=status,
        attempted=status not in SETTLED_UNDELIVERED,
        delivered_at=uow.now() if delivered else None,
    )
    await uow.commit()
