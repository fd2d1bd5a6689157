"""Dead letters: events the pub/sub gave up delivering, kept until an operator redrives or
discards them.

Daprd sends an event that failed delivery past its subscription's retry policy to the
subscription's deadLetterTopic (`dlq-events`) unchanged: the CloudEvent keeps its `id` and
the `topic` it was published to. It says nothing of why, so the reason is the app's own
when it knows one (a malformed outbox event) and says that none was given otherwise.

Dead letters are operator data, not user data: they are not scoped by user, and only
operators (a `roles` claim with "operator") may read or settle them.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from domain.errors import Conflict, NotFound
from domain.events import DEAD_LETTERS, Event, parse_event
from service import keyset
from service.unit_of_work import Row, UnitOfWork, UnitOfWorkFactory

NO_REASON = "none given: daprd dead-letters an event without a reason; its log has the failure"
MALFORMED = "tickler.malformed"
MALFORMED_REASON = "the outbox payload matched no event type, so the relay dead-lettered it"


class DeadLetterState(StrEnum):
    # as stored; store.dead_letters_repo.keep applies the same names when one comes back
    # (a comment, not a docstring: a docstring would change the OpenAPI schema's text)
    KEPT = "kept"
    REDRIVEN = "redriven"
    DISCARDED = "discarded"


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: DeadLetterState | None = None
    # Kafka's rule for topic names, so nothing else reaches the query
    topic: str | None = Field(None, min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=1000)


class DeadLetterPublic(BaseModel):
    id: uuid.UUID
    event_id: str = Field(description="the CloudEvent id; a redrive publishes it unchanged")
    topic: str | None = Field(description="the topic it was dead-lettered from; null: unknown")
    event: dict[str, Any] = Field(description="the CloudEvent as delivered to dlq-events")
    reason: str
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    attempts: int = Field(description="how many times it reached dlq-events")
    state: DeadLetterState
    settled_by: str | None = Field(description="the operator who redrove or discarded it")
    settled_at: AwareDatetime | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterPublic]
    next_cursor: str | None


class Arrival(BaseModel):
    """One delivery on dlq-events, read from its CloudEvent."""

    event_id: str
    topic: str | None
    event: dict[str, Any]
    reason: str


def arrival(envelope: dict[str, Any]) -> Arrival | None:
    """What to keep of a CloudEvent delivered on dlq-events; None if it has no id to keep
    it by. The relay publishes malformed outbox events straight to dlq-events, so their
    `topic` is dlq-events itself: no original topic is known then."""
    event_id = envelope.get("id")
    if not isinstance(event_id, str) or not event_id:
        return None
    topic = envelope.get("topic")
    if not isinstance(topic, str) or not topic or topic == DEAD_LETTERS:
        topic = None
    reason = MALFORMED_REASON if envelope.get("type") == MALFORMED else NO_REASON
    return Arrival(event_id=event_id, topic=topic, event=envelope, reason=reason)


async def keep(uow: UnitOfWork, arrived: Arrival) -> int:
    """Store an arrival once per event id; the attempts seen so far."""
    async with uow:
        attempts = await uow.dead_letters.keep(
            event_id=arrived.event_id,
            topic=arrived.topic,
            event=arrived.event,
            reason=arrived.reason,
            now=uow.now(),
        )
        await uow.commit()
    return attempts


async def list_dead_letters(uow: UnitOfWork, query: DeadLetterQuery) -> DeadLetterPage:
    """Newest first; `next_cursor` fetches the page after this one."""
    after = decode_cursor(query.cursor) if query.cursor else None
    async with uow.reading():
        rows = await uow.dead_letters.page(
            state=query.state.value if query.state else None,
            topic=query.topic,
            after=after,
            limit=query.limit + 1,
        )
    more = len(rows) > query.limit
    items = [DeadLetterPublic.model_validate(dict(r)) for r in rows[: query.limit]]
    cursor = encode_cursor(items[-1].first_seen, items[-1].id) if more else None
    return DeadLetterPage(items=items, next_cursor=cursor)


async def get_dead_letter(uow: UnitOfWork, dead_letter_id: uuid.UUID) -> DeadLetterPublic:
    async with uow.reading():
        row = await uow.dead_letters.get(dead_letter_id)
    if row is None:
        raise NotFound(f"dead letter {dead_letter_id} does not exist")
    return DeadLetterPublic.model_validate(dict(row))


async def redrive(uow: UnitOfWork, dead_letter_id: uuid.UUID, operator: str) -> DeadLetterPublic:
    """Publish the event again, through the outbox, to the topic it was dead-lettered from,
    with the same CloudEvent id: consumers that did handle it recognise it and skip it."""
    async with uow:
        row = await _kept(uow, dead_letter_id, "redriven")
        topic = row["topic"]
        if topic is None:
            raise Conflict(
                f"dead letter {dead_letter_id} has no known original topic to redrive to; "
                "discard it"
            )
        event = tickler_event(row["event"])
        if event is None:
            raise Conflict(
                f"dead letter {dead_letter_id} does not hold a Tickler event, so it cannot "
                "be republished; discard it"
            )
        await uow.outbox.requeue_for_redrive(event, topic)
        # Recorded too, so that the commit wakes the relay; the outbox insert it makes meets
        # the row just requeued and adds nothing.
        uow.record(event)
        settled = await uow.dead_letters.settle(
            dead_letter_id, state=DeadLetterState.REDRIVEN.value, by=operator, at=uow.now()
        )
        await uow.commit()
    return DeadLetterPublic.model_validate(dict(settled))


async def discard(uow: UnitOfWork, dead_letter_id: uuid.UUID, operator: str) -> DeadLetterPublic:
    """Give the event up for good; the row stays, as the record of who did and when."""
    async with uow:
        await _kept(uow, dead_letter_id, "discarded")
        settled = await uow.dead_letters.settle(
            dead_letter_id, state=DeadLetterState.DISCARDED.value, by=operator, at=uow.now()
        )
        await uow.commit()
    return DeadLetterPublic.model_validate(dict(settled))


async def _kept(uow: UnitOfWork, dead_letter_id: uuid.UUID, verb: str) -> Row:
    row = await uow.dead_letters.get(dead_letter_id, for_update=True)
    if row is None:
        raise NotFound(f"dead letter {dead_letter_id} does not exist")
    if row["state"] != DeadLetterState.KEPT:
        raise Conflict(
            f"dead letter {dead_letter_id} is {row['state']}, not kept: it cannot be {verb}"
        )
    return row


def tickler_event(envelope: dict[str, Any]) -> Event | None:
    """The Tickler event a CloudEvent carries, or None."""
    data = envelope.get("data")
    try:
        if isinstance(data, str):  # some transports hand JSON data over as a string
            data = json.loads(data)
        return parse_event(data) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError, ValidationError):
        return None


def encode_cursor(first_seen: datetime, dead_letter_id: uuid.UUID) -> str:
    return keyset.encode_cursor(first_seen, str(dead_letter_id))


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    return keyset.decode_uuid_cursor(cursor)


class BulkSettle(BaseModel):
    """Redrive or discard every kept dead letter (on `topic`, if given), naming the count the
    dry run gave: refused if it changed."""

    model_config = ConfigDict(extra="forbid")

    verb: Literal["redrive", "discard"]
    topic: str | None = Field(None, min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    count: int | None = Field(None, ge=0, description="none: a dry run")


class BulkSettled(BaseModel):
    verb: str
    count: int = Field(description="kept dead letters it applies to (the dry run's count)")
    sample: list[DeadLetterPublic] = Field(description="the newest ten, on a dry run")
    done: int
    skipped: int = Field(description="settled meanwhile, or not redrivable (discard those)")
    dry_run: bool


async def settle_all(
    uow_factory: UnitOfWorkFactory, request: BulkSettle, operator: str
) -> BulkSettled:
    """One transaction per dead letter, as one at a time: a repeat finds them settled and
    skips them, so none is redriven twice."""
    kept = DeadLetterState.KEPT.value
    async with uow_factory().reading() as uow:
        now_count = await uow.dead_letters.count(state=kept, topic=request.topic)
        sample = (
            await uow.dead_letters.page(state=kept, topic=request.topic, after=None, limit=10)
            if request.count is None
            else []
        )
    if request.count is None:
        return BulkSettled(
            verb=request.verb,
            count=now_count,
            sample=[DeadLetterPublic.model_validate(dict(r)) for r in sample],
            done=0,
            skipped=0,
            dry_run=True,
        )
    if now_count != request.count:
        raise Conflict(
            f"{now_count} dead letters are kept now, not {request.count}: run the dry run again"
        )
    settle = redrive if request.verb == "redrive" else discard
    done = skipped = 0
    after = None
    while True:
        async with uow_factory().reading() as uow:
            rows = await uow.dead_letters.page(
                state=kept, topic=request.topic, after=after, limit=100
            )
        for row in rows:
            try:
                await settle(uow_factory(), row["id"], operator)
                done += 1
            except Conflict:
                skipped += 1
        if len(rows) < 100:
            break
        after = (rows[-1]["first_seen"], rows[-1]["id"])
    return BulkSettled(
        verb=request.verb, count=request.count, sample=[], done=done, skipped=skipped, dry_run=False
    )
