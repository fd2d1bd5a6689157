"""The app's Dapr subscriptions and their consumers: notifier, audit, live and dead letters.

Dapr allows one subscription per topic per app, so task-events has one route that runs the
audit and notifier consumers and then the reminder scheduler. The task topics are bulk
subscriptions: Dapr hands over up to BULK_MAX events per request, and each consumer handles
the whole batch in one transaction (a savepoint per event only when that fails), answering
each entry on its own.
Each consumer records the event id under its own name in processed_events, in the same
transaction as its effect, so a redelivered event is a no-op for it, and a failed one is
retried whole. A webhook POST runs after that commit. The live consumer's effect is a
NOTIFY that reaches every replica's streams when it commits (store.live_channel).

Answers follow Dapr's contract: SUCCESS, RETRY (Dapr redelivers; after its last attempt the
event goes to the dead-letter topic), or DROP for an event we can never handle.

Each consumer's handling of each event is a span whose parent is the CloudEvent's
`traceparent` (the trace of the change that wrote it: telemetry.tracing).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import ValidationError

from domain.events import (
    DEAD_LETTERS,
    LIVE,
    PUBLISHED,
    REMINDERS,
    TASK_EVENTS,
    TASK_UPDATES,
    Event,
    parse_event,
)
from service import audit, dead_letters, notifications, webhooks
from store.uow import SqlUnitOfWork
from telemetry import tracing
from telemetry.metrics import DEAD_LETTERS_KEPT, EVENTS_CONSUMED

log = logging.getLogger(__name__)
T = TypeVar("T")


DEAD_LETTERS_ROUTE = "/events/dlq-events"
SUCCESS, RETRY, DROP = ({"status": s} for s in ("SUCCESS", "RETRY", "DROP"))

# A consumer takes a batch of events and returns the ids of those it has fully handled.
Consumer = Callable[[Callable[[], SqlUnitOfWork], list[Event]], Awaitable[set[uuid.UUID]]]
# Dapr's bulk subscription: at most this many events per delivery, gathered for at most
# this long (daprd's defaults are 100 and 1,000 ms; a second is too long for the live feed)
BULK_MAX = 100
BULK_AWAIT_MS = 20


async def _consume(
    uow_factory: Callable[[], SqlUnitOfWork],
    events: list[Event],
    handle: Callable[[SqlUnitOfWork, Event], Awaitable[T]],
    inboxes: tuple[str, ...],
) -> dict[uuid.UUID, T]:
    """`handle` every event of a batch in one transaction, the batch recorded in the
    `inboxes` it checks (those consumers' names) in one statement each. When that fails,
    once more with a savepoint per event, so that only the failing ones roll back (and are
    redelivered). Returns the results of the events whose effects committed."""
    try:
        async with uow_factory() as uow:
            for consumer in inboxes:
                await uow.inbox.claim(consumer, [event.event_id for event in events])
            results = {event.event_id: await handle(uow, event) for event in events}
            await uow.commit()
        return results
    except Exception:
        if len(events) == 1:
            log.exception("consuming %s event %s failed", events[0].type, events[0].event_id)
            return {}
        log.warning("a batch of %d events failed; handling them one by one", len(events))
    results = {}
    async with uow_factory() as uow:
        for event in events:
            try:
                async with uow.conn.begin_nested():
                    results[event.event_id] = await handle(uow, event)
            except Exception:  # the database failed on this one: Dapr redelivers it
                log.exception("consuming %s event %s failed", event.type, event.event_id)
        await uow.commit()
    return results


async def _recorded(
    uow_factory: Callable[[], SqlUnitOfWork],
    events: list[Event],
    *,
    audited: bool,
    private_webhooks: bool,
) -> set[uuid.UUID]:
    """The audit (when `audited`) and notifier consumers of a batch, in one transaction.
    Webhook POSTs run after that commit, so a failing receiver retries only its delivery,
    with the same delivery id."""

    async def record(uow: SqlUnitOfWork, event: Event) -> bool:
        if audited:
            await audit.record(uow, event)
        return await notifications.notify(uow, event)  # True: a webhook delivery is due

    inboxes = (audit.CONSUMER, notifications.CONSUMER) if audited else (notifications.CONSUMER,)
    recorded = await _consume(uow_factory, events, record, inboxes)
    done = set(recorded)
    for event in events:
        if not recorded.get(event.event_id):
            continue
        try:
            delivered = await webhooks.deliver(uow_factory(), event, allow_private=private_webhooks)
        except Exception:  # the receiver or the database failed: Dapr redelivers it
            log.exception("webhook delivery of event %s failed", event.event_id)
            delivered = False
        if not delivered:
            done.discard(event.event_id)
    return done


def subscriptions_router(
    *, scheduler: Consumer | None = None, private_webhooks: bool = False
) -> APIRouter:
    """`scheduler`: the consumer that keeps users' ReminderScheduleActors in step (with Dapr).
    `private_webhooks`: deliveries may reach loopback and private addresses (dev, tests)."""
    router = APIRouter(include_in_schema=False)

    async def notifier(uow_factory: Callable[[], SqlUnitOfWork], events: list[Event]):
        return await _recorded(
            uow_factory, events, audited=False, private_webhooks=private_webhooks
        )

    async def audit_and_notify(uow_factory: Callable[[], SqlUnitOfWork], events: list[Event]):
        return await _recorded(uow_factory, events, audited=True, private_webhooks=private_webhooks)

    async def live(uow_factory: Callable[[], SqlUnitOfWork], events: list[Event]):
        async def announce(uow: SqlUnitOfWork, event: Event) -> None:
            if await uow.inbox.first_delivery(LIVE, event.event_id):
                await uow.live.announce(event)  # to every replica, once this commits

        return set(await _consume(uow_factory, events, announce, (LIVE,)))

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
                    "bulkSubscribe": {
                        "enabled": True,
                        "maxMessagesCount": BULK_MAX,
                        "maxAwaitDurationMs": BULK_AWAIT_MS,
                    },
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
    if attempts == 1:  # a label per topic we publish, whatever a broker names
        known = arrived.topic in PUBLISHED
        DEAD_LETTERS_KEPT.labels(arrived.topic if known else "other").inc()
    log.warning(
        "dead letter %s from %s kept (seen %d times)",
        arrived.event_id,
        arrived.topic or "an unknown topic",
        attempts,
    )
    return SUCCESS


def _handler(topic: str, consumers: list[Consumer]) -> Callable[[Request], Awaitable[dict]]:
    async def handle(request: Request) -> dict[str, Any]:
        """A bulk delivery: one status per entry. An entry that is not one of our events is
        dropped; one that a consumer could not finish is retried (by Dapr, alone)."""
        try:
            envelope = json.loads(await request.body())
            entries = envelope["entries"]
            if not isinstance(entries, list):
                raise TypeError("entries is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            log.error("dropping a malformed bulk delivery on %s: %s", topic, exc)
            return {"statuses": []}
        by_entry: dict[str, Event] = {}
        statuses: dict[str, str] = {}
        traces: dict[uuid.UUID, str | None] = {}
        for entry in entries:
            entry_id = str(entry.get("entryId", "")) if isinstance(entry, dict) else ""
            envelope = _envelope(topic, entry.get("event")) if entry_id else None
            event = _event(topic, envelope) if envelope is not None else None
            if event is None:
                statuses[entry_id] = "DROP"
            else:
                by_entry[entry_id] = event
                traces[event.event_id] = _traceparent(envelope)
        events = list({e.event_id: e for e in by_entry.values()}.values())
        uow_factory = request.app.state.uow_factory
        done = {e.event_id for e in events}
        if dropped := len(entries) - len(by_entry):
            EVENTS_CONSUMED.labels("none", "drop").inc(dropped)
        for consume in consumers:
            try:
                with tracing.spans_from(
                    f"consume {consume.__name__}", [traces[e.event_id] for e in events]
                ):
                    handled = await consume(uow_factory, events)
            except Exception:  # the database or a receiver failed: let Dapr redeliver
                log.exception("%s failed on %d %s event(s)", consume.__name__, len(events), topic)
                handled = set()
            done &= handled
            _count(consume.__name__, events, handled)
        for entry_id, event in by_entry.items():
            statuses[entry_id] = "SUCCESS" if event.event_id in done else "RETRY"
        return {"statuses": [{"entryId": k, "status": v} for k, v in statuses.items()]}

    handle.__name__ = f"on_{topic.replace('-', '_')}"
    return handle


def _count(consumer: str, events: list[Event], handled: set[uuid.UUID]) -> None:
    ok = sum(e.event_id in handled for e in events)
    if ok:
        EVENTS_CONSUMED.labels(consumer, "handled").inc(ok)
    if len(events) > ok:
        EVENTS_CONSUMED.labels(consumer, "retry").inc(len(events) - ok)


def _envelope(topic: str, envelope: Any) -> dict[str, Any] | None:
    """A bulk entry's CloudEvent as a dict, or None (logged) when it is not JSON."""
    try:
        if isinstance(envelope, (str, bytes)):
            envelope = json.loads(envelope)
    except ValueError as exc:
        log.error("dropping malformed event on %s: %s", topic, exc)
        return None
    if not isinstance(envelope, dict):
        log.error("dropping malformed event on %s: not a JSON object", topic)
        return None
    return envelope


def _traceparent(envelope: dict[str, Any]) -> str | None:
    trace = envelope.get("traceparent")
    return trace if isinstance(trace, str) else None


def _event(topic: str, envelope: dict[str, Any]) -> Event | None:
    """The event inside a bulk entry's CloudEvent, or None (logged) when it is not one of
    ours."""
    try:
        data = envelope["data"]
        if isinstance(data, str):  # some transports hand JSON data over as a string
            data = json.loads(data)
        return parse_event(data)
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        log.error("dropping malformed event on %s: %s", topic, exc)
        return None
