"""The app's Dapr subscriptions and their consumers: notifier, audit, live and dead letters.

Dapr allows one subscription per topic per app, so task-events has one route that runs the
audit and notifier consumers and then the reminder scheduler. Each consumer records the event
id under its own name in processed_events, in the same transaction as its effect; audit and
notifier share one transaction per delivery, so a redelivered event is a no-op for them, and
a failed one is retried whole. A webhook POST runs after that commit.

Answers follow Dapr's contract: SUCCESS, RETRY (Dapr redelivers; after its last attempt the
event goes to the dead-letter topic), or DROP for an event we can never handle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from api.events.live import LiveHub
from domain.events import DEAD_LETTERS, REMINDERS, TASK_EVENTS, TASK_UPDATES, Event, parse_event
from service import audit, dead_letters, notifications, webhooks
from store.outbox import first_delivery
from store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

LIVE = "live"
DEAD_LETTERS_ROUTE = "/events/dlq-events"
SUCCESS, RETRY, DROP = ({"status": s} for s in ("SUCCESS", "RETRY", "DROP"))

Consumer = Callable[[Callable[[], SqlUnitOfWork], Event], Awaitable[bool]]


async def _recorded(
    uow_factory: Callable[[], SqlUnitOfWork],
    event: Event,
    *,
    audited: bool,
    private_webhooks: bool,
) -> bool:
    """The audit (when `audited`) and notifier consumers of one event, in one transaction.
    True when done. The webhook POST runs after that commit, so a failing receiver retries
    only the delivery, with the same delivery id."""
    async with uow_factory() as uow:
        if audited:
            await audit.record(uow, event)
        delivery = await notifications.notify(uow, event)
        await uow.commit()
    if not delivery:  # no webhook: no delivery transaction to run
        return True
    return await webhooks.deliver(uow_factory(), event, allow_private=private_webhooks)


def subscriptions_router(
    hub: LiveHub, *, scheduler: Consumer | None = None, private_webhooks: bool = False
) -> APIRouter:
    """`scheduler`: the consumer that keeps users' ReminderScheduleActors in step (with Dapr).
    `private_webhooks`: deliveries may reach loopback and private addresses (dev, tests)."""
    router = APIRouter(include_in_schema=False)

    async def notifier(uow_factory: Callable[[], SqlUnitOfWork], event: Event) -> bool:
        return await _recorded(uow_factory, event, audited=False, private_webhooks=private_webhooks)

    async def audit_and_notify(uow_factory: Callable[[], SqlUnitOfWork], event: Event) -> bool:
        return await _recorded(uow_factory, event, audited=True, private_webhooks=private_webhooks)

    async def live(uow_factory: Callable[[], SqlUnitOfWork], event: Event) -> bool:
        async with uow_factory() as uow:
            first = await first_delivery(uow.conn, LIVE, event.event_id)
            await uow.commit()
        if first:
            hub.publish(event)
        return True

    routes: dict[str, tuple[str, list[Consumer]]] = {
        TASK_EVENTS: (
            "/events/task-events",
            [audit_and_notify, *([scheduler] if scheduler else [])],
        ),
        REMINDERS: ("/events/reminders", [notifier]),
        TASK_UPDATES: ("/events/task-updates", [live]),
    }

    @router.get("/dapr/subscribe")
    async def subscribe(request: Request) -> list[dict[str, Any]]:
        pubsub = request.app.state.settings.pubsub_name
        return [
            *(
                {
                    "pubsubname": pubsub,
                    "topic": topic,
                    "route": path,
                    "metadata": {},
                    "deadLetterTopic": DEAD_LETTERS,
                }
                for topic, (path, _) in routes.items()
            ),
            # no deadLetterTopic of its own: a dead letter that cannot be kept is retried
            # (RETRY), never sent round to dlq-events again
            {
                "pubsubname": pubsub,
                "topic": DEAD_LETTERS,
                "route": DEAD_LETTERS_ROUTE,
                "metadata": {},
            },
        ]

    for topic, (path, consumers) in routes.items():
        router.add_api_route(path, _handler(topic, consumers), methods=["POST"])
    router.add_api_route(DEAD_LETTERS_ROUTE, on_dead_letter, methods=["POST"])
    return router


async def on_dead_letter(request: Request) -> dict[str, str]:
    """Keep an event the pub/sub gave up delivering, once per CloudEvent id: a second
    delivery of it adds to its attempts."""
    try:
        envelope = json.loads(await request.body())
    except ValueError as exc:
        log.error("dropping a dead letter that is not JSON: %s", exc)
        return DROP
    arrived = dead_letters.arrival(envelope) if isinstance(envelope, dict) else None
    if arrived is None:
        log.error("dropping a dead letter that is not a CloudEvent with an id")
        return DROP
    try:
        attempts = await dead_letters.keep(request.app.state.uow_factory(), arrived)
    except Exception:  # the database failed: let Dapr redeliver it
        log.exception("could not keep dead letter %s", arrived.event_id)
        return RETRY
    log.warning(
        "dead letter %s from %s kept (seen %d times)",
        arrived.event_id,
        arrived.topic or "an unknown topic",
        attempts,
    )
    return SUCCESS


def _handler(topic: str, consumers: list[Consumer]) -> Callable[[Request], Awaitable[dict]]:
    async def handle(request: Request) -> dict[str, str]:
        event = _event(topic, await request.body())
        if event is None:
            return DROP
        uow_factory = request.app.state.uow_factory
        done = True
        for consume in consumers:
            try:
                done = await consume(uow_factory, event) and done
            except Exception:  # the database or a receiver failed: let Dapr redeliver
                log.exception("%s failed on %s event %s", consume.__name__, topic, event.event_id)
                done = False
        return SUCCESS if done else RETRY

    handle.__name__ = f"on_{topic.replace('-', '_')}"
    return handle


def _event(topic: str, body: bytes) -> Event | None:
    """The event inside a CloudEvent, or None (logged) when it is not one of ours."""
    try:
        envelope = json.loads(body)
        data = envelope["data"]
        if isinstance(data, str):  # some transports hand JSON data over as a string
            data = json.loads(data)
        return parse_event(data)
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        log.error("dropping malformed event on %s: %s", topic, exc)
        return None
