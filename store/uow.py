"""Unit of work: one transaction, plus the domain events it produced, written to the outbox
in that same transaction so that nothing is published that was not committed.

It holds a Core connection, not an ORM session: every query here is Core or text, and the
session's bookkeeping cost about a quarter of a millisecond per transaction for nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.events import Event
from service.clock import Clock
from store import outbox
from store.tables import OutboxEvent


class SqlUnitOfWork:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self.clock = clock
        self._on_commit = on_commit
        self.events: list[Event] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        self.conn: AsyncConnection = await self._engine.connect()
        self.events = []
        self._now: datetime | None = None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.conn.in_transaction():
                await self.conn.rollback()
        finally:
            await self.conn.close()

    def now(self) -> datetime:
        """One instant per unit of work: every timestamp it writes agrees."""
        if self._now is None:
            self._now = self.clock.now()
        return self._now

    def record(self, event: Event) -> None:
        self.events.append(event)

    async def commit(self) -> None:
        if self.events:
            await self.conn.execute(
                # an event id already there is an idempotent step's re-run: keep the first
                insert(OutboxEvent.__table__).on_conflict_do_nothing(index_elements=["event_id"]),
                [outbox.row(e) for e in self.events],
            )
        await self.conn.commit()
        published = bool(self.events)
        self.events = []
        if published and self._on_commit is not None:
            self._on_commit()


UnitOfWorkFactory = Callable[[], SqlUnitOfWork]
