"""`GET /v1/stream`: a Server-Sent Events stream of the caller's task events (`id:` is the
event id, `data:` the event JSON). A client reconnecting with `Last-Event-ID` first gets the
events it missed, read back from the outbox (best effort: as far as the outbox remembers).

The live consumer (messaging.consumers) hands each task-updates event to the LiveHub, which
fans it out in-process to the user's streams. The fan-out is per process: with several app
replicas, Dapr hands each event to one of them, so streams would need a shared channel
(e.g. PostgreSQL LISTEN/NOTIFY) to see every change."""

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
    """Per-user listener queues. A listener that falls QUEUE_SIZE events behind loses the
    overflow (logged); its client can reconnect with Last-Event-ID to catch up."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    @contextmanager
    def listen(self, user_id: str) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._listeners[user_id].add(queue)
        try:
            yield queue
        finally:
            self._listeners[user_id].discard(queue)
            if not self._listeners[user_id]:
                del self._listeners[user_id]

    def publish(self, event: Event) -> None:
        for queue in self._listeners.get(event.user_id, ()):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning(
                    "live listener of %s is full; dropped %s", event.user_id, event.event_id
                )


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
                while True:
                    event = await queue.get()
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
