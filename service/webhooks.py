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
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from domain.errors import NotFound
from domain.events import Event
from service.webhook_targets import RefusedTarget, Target, check_url, pin
from store.tables import Webhook, WebhookDelivery
from store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(5.0)
REFUSED = "refused"  # the target is not a public address: never attempted
SETTLED_UNDELIVERED = ("cancelled", REFUSED)
_hooks = Webhook.__table__
_deliveries = WebhookDelivery.__table__


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
    uow: SqlUnitOfWork, user_id: str, cmd: WebhookIn, *, allow_private: bool = False
) -> WebhookPublic:
    """`allow_private`: let the URL name loopback and private addresses (dev and tests)."""
    check_url(str(cmd.url), allow_private=allow_private)
    values = {"url": str(cmd.url), "secret": cmd.secret}
    async with uow:
        row = (
            await uow.conn.execute(
                insert(_hooks)
                .values(user_id=user_id, **values)
                .on_conflict_do_update(index_elements=[_hooks.c.user_id], set_=values)
                .returning(_hooks.c.url, _hooks.c.created_at)
            )
        ).one()
        await uow.commit()
    return WebhookPublic(url=row.url, created_at=row.created_at)


async def get_webhook(uow: SqlUnitOfWork, user_id: str) -> WebhookPublic:
    async with uow:
        row = (
            await uow.conn.execute(
                select(_hooks.c.url, _hooks.c.created_at).where(_hooks.c.user_id == user_id)
            )
        ).first()
    if row is None:
        raise NotFound("no webhook is configured")
    return WebhookPublic(url=row.url, created_at=row.created_at)


async def delete_webhook(uow: SqlUnitOfWork, user_id: str) -> None:
    async with uow:
        result = await uow.conn.execute(delete(_hooks).where(_hooks.c.user_id == user_id))
        await uow.commit()
    if result.rowcount == 0:
        raise NotFound("no webhook is configured")


async def schedule(uow: SqlUnitOfWork, event: Event) -> bool:
    """Inside the notifier's transaction: give `event` a delivery if the user has a webhook.
    True when there is one to attempt."""
    has_hook = await uow.conn.scalar(
        select(_hooks.c.user_id).where(_hooks.c.user_id == event.user_id)
    )
    if has_hook is not None:
        await uow.conn.execute(
            insert(_deliveries)
            .values(
                delivery_id=uuid.uuid4(),
                event_id=event.event_id,
                user_id=event.user_id,
                attempts=0,
            )
            .on_conflict_do_nothing()
        )
    return has_hook is not None


async def deliver(uow: SqlUnitOfWork, event: Event, *, allow_private: bool = False) -> bool:
    """Attempt the pending delivery of `event`, if any. False means try again later.

    The delivery row stays locked during the POST, so concurrent redeliveries of one event
    never reach the receiver at the same time. A target that resolves to a non-public
    address (see service.webhook_targets) is refused for good, not retried."""
    async with uow:
        row = (
            await uow.conn.execute(
                select(_deliveries.c.delivery_id, _hooks.c.url, _hooks.c.secret)
                .join(_hooks, _hooks.c.user_id == _deliveries.c.user_id, isouter=True)
                .where(
                    _deliveries.c.event_id == event.event_id,
                    _deliveries.c.delivered_at.is_(None),
                    or_(
                        _deliveries.c.last_status.is_(None),
                        _deliveries.c.last_status.not_in(SETTLED_UNDELIVERED),
                    ),
                )
                .with_for_update(of=_deliveries)
            )
        ).first()
        if row is None:
            return True
        if row.url is None:  # the webhook was removed since: nothing left to deliver to
            await _settle(uow, row.delivery_id, "cancelled", delivered=False)
            return True
        try:
            target = await pin(row.url, allow_private=allow_private)
        except RefusedTarget as exc:
            log.warning("webhook delivery %s refused: %s", row.delivery_id, exc)
            await _settle(uow, row.delivery_id, REFUSED, delivered=False)
            return True
        except OSError as exc:  # the name does not resolve now: try again later
            log.warning("webhook delivery %s: cannot resolve its host: %s", row.delivery_id, exc)
            await _settle(uow, row.delivery_id, "unresolved", delivered=False)
            return False
        status, ok = await _post(target, row.secret, row.delivery_id, event)
        await _settle(uow, row.delivery_id, status, delivered=ok)
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


async def _settle(
    uow: SqlUnitOfWork, delivery_id: uuid.UUID, status: str, *, delivered: bool
) -> None:
    values: dict[str, object] = {
        "attempts": _deliveries.c.attempts + (0 if status in SETTLED_UNDELIVERED else 1),
        "last_status": status,
    }
    if delivered:
        values["delivered_at"] = uow.now()
    await uow.conn.execute(
        update(_deliveries).where(_deliveries.c.delivery_id == delivery_id).values(**values)
    )
    await uow.commit()
