"""`GET /v1/stream`: a Server-Sent Events stream of the caller's task events (`id:` is the
event id, `data:` the event JSON). A client reconnecting with `Last-Event-ID` first gets the
events it missed, read back from the outbox (best effort: as far as the outbox remembers).

With several replicas, Dapr hands each task-updates event to one of them, while the user's
streams may be open on any. The live consumer (messaging.consumers), on whichever replica
got the event, announces it through PostgreSQL (NOTIFY, store.live_channel); each replica's
listener hands it to the LiveHub here, which fans it out to the user's streams in this
process. The hub only ever sends an event to its own user's streams.

When events may have been missed (this replica's listener reconnected, or a stream fell
QUEUE_SIZE events behind), the hub ends the stream: the client (EventSource) reconnects
after `retry` with its Last-Event-ID and is replayed the gap. An event both replayed and
live is sent once: the live copy of a replayed id is skipped."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.deps import User
from domain.events import Event
from store.outbox import task_events_after

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15
QUEUE_SIZE = 1000
REPLAY_LIMIT = 500


class LiveHub:
    """Per-user listener queues, fed by this replica's live listener (it is the listener's
    store.live_channel.LiveSink). A queue yields None when its stream must end."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue[Event | None]]] = defaultdict(set)
        self._ending: set[asyncio.Queue[Event | None]] = set()

    @contextmanager
    def listen(self, user_id: str) -> Iterator[asyncio.Queue[Event | None]]:
        # one slot more than QUEUE_SIZE, kept for the None that ends a stream
        queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE + 1)
        self._listeners[user_id].add(queue)
        try:
            yield queue
        finally:
            self._listeners[user_id].discard(queue)
            self._ending.discard(queue)
            if not self._listeners[user_id]:
                del self._listeners[user_id]

    def wants(self, user_id: str) -> bool:
        return user_id in self._listeners

    def publish(self, event: Event) -> None:
        for queue in self._listeners.get(event.user_id, ()):
            if queue in self._ending:
                continue
            if queue.qsize() < QUEUE_SIZE:
                queue.put_nowait(event)
            else:
                log.warning(
                    "a live stream of %s fell %d events behind; ending it for a replay",
                    event.user_id,
                    QUEUE_SIZE,
                )
                self._end(queue)

    def resync(self) -> None:
        for queues in self._listeners.values():
            for queue in queues:
                if queue not in self._ending:
                    self._end(queue)

    def _end(self, queue: asyncio.Queue[Event | None]) -> None:
        """Make None the queue's next item. The events it drops are replayed to the
        reconnecting client, after the last one it was sent."""
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
        self._ending.add(queue)


def _message(event_id: str, payload: str) -> ServerSentEvent:
    return ServerSentEvent(payload, id=event_id)


def stream_router(hub: LiveHub) -> APIRouter:
    router = APIRouter()

    # Out of the OpenAPI schema: an endless stream is not a request/response operation.
    @router.get("/v1/stream", include_in_schema=False)
    async def stream(
        request: Request,
        user: User,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> EventSourceResponse:
        async def events() -> AsyncIterator[ServerSentEvent]:
            with hub.listen(user) as queue:
                yield ServerSentEvent(comment="listening", retry=2000)
                seen: set[str] = set()
                for payload in await _missed(request, user, last_event_id):
                    seen.add(payload["event_id"])
                    yield _message(payload["event_id"], json.dumps(payload))
                while (event := await queue.get()) is not None:
                    event_id = str(event.event_id)
                    if event_id not in seen:
                        yield _message(event_id, event.model_dump_json())

        return EventSourceResponse(events(), ping=HEARTBEAT_SECONDS)

    return router


async def _missed(request: Request, user: str, last_event_id: str | None) -> list[dict[str, Any]]:
    if not last_event_id:
        return []
    try:
        after = uuid.UUID(last_event_id.strip())
    except ValueError:
        return []  # not one of ours: nothing to replay
    async with request.app.state.uow_factory() as uow:
        return await task_events_after(uow.conn, user, after, REPLAY_LIMIT)
