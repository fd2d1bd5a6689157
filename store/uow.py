"""Unit of work: one transaction, plus the domain events it produced, written to the outbox
in that same transaction so that nothing is published that was not committed. It implements
service.unit_of_work.UnitOfWork: the repositories it exposes share its connection.

It holds a Core connection, not an ORM session: every query here is Core or text, and the
session's bookkeeping cost about a quarter of a millisecond per transaction for nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.clock import Clock
from domain.events import Event
from store import outbox
from store.audit_repo import SqlAuditLog
from store.bulk_actions_repo import SqlBulkActions
from store.dead_letters_repo import SqlDeadLetters
from store.housekeeping_repo import SqlHousekeeping
from store.idempotency_repo import SqlIdempotency
from store.live_channel import SqlLiveChannel
from store.notifications_repo import SqlNotifications
from store.operator_log_repo import SqlOperatorLog
from store.ops_health_repo import SqlOpsHealth
from store.reminders_repo import SqlReminders
from store.saga_runs_repo import SqlSagaRuns
from store.series_repo import SqlSeries
from store.tables import OutboxEvent
from store.tags_repo import SqlTags
from store.tasks_repo import SqlTasks
from store.webhooks_repo import SqlWebhooks


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
        self._read_only = False

    def reading(self) -> SqlUnitOfWork:
        self._read_only = True
        return self

    async def __aenter__(self) -> SqlUnitOfWork:
        self.conn: AsyncConnection = await self._engine.connect()
        if self._read_only:
            # the driver's autocommit: statements run outside any transaction (SQLAlchemy
            # restores the pool's isolation level when the connection goes back)
            await self.conn.execution_options(isolation_level="AUTOCOMMIT")
        self.tasks = SqlTasks(self.conn)
        self.idempotency = SqlIdempotency(self.conn)
        self.inbox = outbox.SqlInbox(self.conn)
        self.outbox = outbox.SqlOutbox(self.conn)
        self.audit = SqlAuditLog(self.conn)
        self.notifications = SqlNotifications(self.conn)
        self.webhooks = SqlWebhooks(self.conn)
        self.tags = SqlTags(self.conn)
        self.reminders = SqlReminders(self.conn)
        self.series = SqlSeries(self.conn)
        self.dead_letters = SqlDeadLetters(self.conn)
        self.saga_runs = SqlSagaRuns(self.conn)
        self.operator_log = SqlOperatorLog(self.conn)
        self.bulk_actions = SqlBulkActions(self.conn)
        self.ops_health = SqlOpsHealth(self.conn)
        self.housekeeping = SqlHousekeeping(self.conn)
        self.live = SqlLiveChannel(self.conn)  # the live consumer's NOTIFY (no service uses it)
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
            self._read_only = False
            await self.conn.close()

    def now(self) -> datetime:
        """One instant per unit of work: every timestamp it writes agrees."""
        if self._now is None:
            self._now = self.clock.now()
        return self._now

    def record(self, event: Event) -> None:
        self.events.append(event)

    async def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a reading unit of work has nothing to commit")
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
