"""What the engine needs from a message transport (PostgreSQL tables, Kafka)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sidecar.pubsub.bulk import BulkHandler

# (topic, body, expired) -> returns once the message is settled; the transport then commits it.
Handler = Callable[[str, bytes, bool], Awaitable[None]]
# A bulk subscription on a transport that batches itself (Kafka): (max messages, max await
# in seconds, handler)
BulkSpec = tuple[int, float, "BulkHandler"]


class Transport(Protocol):
    async def publish(
        self, topic: str, body: bytes, *, key: str | None = None, ttl: timedelta | None = None
    ) -> None:
        """Durably stored (or acknowledged by the broker) when this returns."""

    async def subscribe(self, topics: list[str], handler: Handler) -> None:
        """Start consuming `topics` in the background, calling `handler` per message."""

    async def close(self) -> None: ...
