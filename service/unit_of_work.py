"""What the use cases need from storage: one transaction at a time (a unit of work) and,
inside it, one repository per aggregate. `store.uow.SqlUnitOfWork` implements it on
PostgreSQL and `tests.fakes.uow.FakeUnitOfWork` in memory, so a use case can be tested
without a database.

Repositories hand rows back as mappings of column name to value; the use cases shape them
into their public models."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from domain.clock import Clock
from domain.events import Event
from domain.saga_runs import RunFilter
from domain.tasks import TaskFilter

Row = Mapping[str, Any]


class Inbox(Protocol):
    """The events each consumer has handled, so a redelivery is recognised."""

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Record that `consumer` handles `event_id`; False if it already has."""

    async def claim(self, consumer: str, event_ids: Sequence[uuid.UUID]) -> None:
        """first_delivery for a whole batch at once; each id's first_delivery call in this
        transaction then answers from it."""


class Outbox(Protocol):
    async def requeue_for_redrive(self, event: Event, topic: str) -> None:
        """Publish `event` again, with its own id, to `topic` alone."""

    async def of_tasks(
        self, user_id: str, task_ids: Sequence[uuid.UUID], limit: int
    ) -> Sequence[Row]:
        """The events recorded about these tasks of the user's, oldest first."""


class AuditLog(Protocol):
    async def add(
        self,
        *,
        user_id: str,
        task_id: uuid.UUID,
        event_id: uuid.UUID,
        action: str,
        actor: str,
        at: datetime,
        details: dict[str, Any],
    ) -> None:
        """Append one entry."""

    async def newest(self, user_id: str, *, task_id: uuid.UUID | None, limit: int) -> Sequence[Row]:
        """The user's entries (of one task, if given), newest first."""


class Notifications(Protocol):
    async def add(
        self,
        *,
        notification_id: uuid.UUID,
        user_id: str,
        task_id: uuid.UUID,
        event_id: uuid.UUID,
        kind: str,
        title: str,
        body: str,
    ) -> None:
        """Store one notification."""

    async def task_title(self, user_id: str, task_id: uuid.UUID) -> str | None:
        """The title of the user's task; None when it is gone."""

    async def newest(self, user_id: str, *, unread: bool, limit: int) -> Sequence[Row]:
        """The user's notifications (only unread ones, if `unread`), newest first."""

    async def mark_read(self, user_id: str, notification_id: uuid.UUID, at: datetime) -> Row | None:
        """Set the read time unless it is set already; None when there is no such
        notification of the user's."""


class Webhooks(Protocol):
    async def put(self, user_id: str, url: str, secret: str) -> Row:
        """Create or replace the user's webhook; its `url` and `created_at`."""

    async def get(self, user_id: str) -> Row | None:
        """The user's webhook `url` and `created_at`."""

    async def remove(self, user_id: str) -> bool:
        """Delete the user's webhook; False when there was none."""

    async def exists(self, user_id: str) -> bool:
        """Whether the user has a webhook."""

    async def add_delivery(self, delivery_id: uuid.UUID, event_id: uuid.UUID, user_id: str) -> None:
        """A pending delivery of `event_id`, unless it has one already."""

    async def pending_delivery(
        self, event_id: uuid.UUID, *, settled: Collection[str]
    ) -> Row | None:
        """The delivery of `event_id` still to attempt (not delivered, last status not in
        `settled`), locked until the transaction ends: `delivery_id`, and the webhook's
        `url` and `secret` (None when the webhook is gone)."""

    async def settle_delivery(
        self,
        delivery_id: uuid.UUID,
        *,
        status: str,
        attempted: bool,
        delivered_at: datetime | None,
    ) -> None:
        """Record an attempt's outcome; `attempted` counts it as an attempt."""


class Tags(Protocol):
    async def counts(self, user_id: str) -> Sequence[Row]:
        """The user's tags, `name` and task `count`, by name case-insensitively."""

    async def find(self, user_id: str, name: str) -> uuid.UUID | None:
        """The user's tag named `name`, in any case."""

    async def rename(self, tag_id: uuid.UUID, name: str) -> None:
        """Give the tag a new name."""

    async def merge(self, source: uuid.UUID, target: uuid.UUID) -> None:
        """Tag `source`'s tasks with `target` too, then delete `source`."""

    async def delete(self, tag_id: uuid.UUID) -> None:
        """Delete the tag, and so take it off every task."""

    async def task_ids(self, tag_id: uuid.UUID) -> list[uuid.UUID]:
        """The tasks carrying the tag, in id order."""

    async def count_tasks(self, tag_id: uuid.UUID) -> int:
        """How many tasks carry the tag."""

    async def touch_tasks(self, user_id: str, tag_id: uuid.UUID, at: datetime) -> list[uuid.UUID]:
        """Bump the version of the user's tasks carrying the tag, updated `at`; their ids."""


class Reminders(Protocol):
    async def get(self, user_id: str, reminder_id: uuid.UUID, *, lock: bool = False) -> Row | None:
        """The user's reminder with its task's `title`, `due_at`, `timezone`, `status` and
        `version`; `lock` holds the reminder until the transaction ends."""

    async def reschedule(self, reminder_id: uuid.UUID, fire_at: datetime) -> None:
        """Fire (again) at `fire_at`: pending."""

    async def touch_task(self, task_id: uuid.UUID, at: datetime) -> None:
        """Bump the task's version, updated `at`."""

    async def upcoming(self, user_id: str, *, until: datetime | None, limit: int) -> Sequence[Row]:
        """Pending reminders of open tasks (firing by `until`, if given), soonest first."""

    async def pending(self, user_id: str, task_ids: list[uuid.UUID] | None) -> Sequence[Row]:
        """Pending reminders of open tasks (of `task_ids`, if given): `id`, `task_id`,
        `fire_at`."""

    async def users_with_pending(self, *, after: str, limit: int) -> list[str]:
        """Users with a pending reminder of an open task, in id order after `after`."""

    async def mark_sent(
        self, user_id: str, reminder_id: uuid.UUID, fire_at: datetime, at: datetime
    ) -> Row | None:
        """Mark the reminder sent `at` if it is pending for `fire_at` and its task is open;
        then its `task_id`, `before_minutes` and the task's `title`, `due_at`, `timezone`."""


class SeriesStore(Protocol):
    async def definition(self, series_id: uuid.UUID) -> Row | None:
        """The series' row, with `n` (tasks generated) and its latest open task (`open_id`,
        `open_index`, `open_due`)."""

    async def set_state(self, user_id: str, series_id: uuid.UUID, state: str) -> None:
        """Set the series' state."""

    async def add_exdate(self, user_id: str, series_id: uuid.UUID, local: datetime) -> None:
        """Add an excluded wall-clock time, unless it is there already."""


class DeadLetters(Protocol):
    async def keep(
        self,
        *,
        event_id: str,
        topic: str | None,
        event: dict[str, Any],
        reason: str,
        now: datetime,
    ) -> int:
        """Store one arrival of a dead letter; the attempts it has now been seen."""

    async def count(self, *, state: str | None, topic: str | None) -> int:
        """How many there are in `state` (and on `topic`)."""

    async def page(
        self,
        *,
        state: str | None,
        topic: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row]:
        """Newest first (by first seen, then id), after the keyset `after`."""

    async def get(self, dead_letter_id: uuid.UUID, *, for_update: bool = False) -> Row | None:
        """One dead letter; `for_update` locks it until the transaction ends."""

    async def settle(self, dead_letter_id: uuid.UUID, *, state: str, by: str, at: datetime) -> Row:
        """Mark it redriven or discarded, by whom and when; the row as it is now."""


class SagaRuns(Protocol):
    """The operators' read model of the saga (store.saga_runs_repo)."""

    async def started(
        self,
        *,
        instance_id: str,
        kind: str,
        user_id: str,
        task_id: uuid.UUID,
        attempt: int,
        retry_of: str | None,
        status: str,
        step: str | None,
        now: datetime,
    ) -> None:
        """Create the run, or move a live one on; a finished run stays as it is."""

    async def finished(
        self,
        instance_id: str,
        *,
        status: str,
        now: datetime,
        next_task_id: uuid.UUID | None = None,
        failure_message: str | None = None,
        failure_step: str | None = None,
    ) -> Row | None:
        """End a live run: its kind and started_at; None when it had already ended or is
        unknown."""

    async def purged(self, instance_id: str, *, now: datetime) -> None:
        """The runtime forgot the run's instance; the row stays until its id is reused."""

    async def touched(self, instance_id: str, *, status: str, now: datetime) -> None:
        """A live run seen live again (perhaps suspended)."""

    async def stale(self, *, before: datetime, limit: int) -> list[str]:
        """Live runs not heard from since `before`, oldest first."""

    async def get(self, instance_id: str) -> Row | None:
        """One run by its instance id."""

    async def lineage(self, task_id: uuid.UUID) -> list[Row]:
        """Every attempt at closing the occurrence, first to last."""

    async def page(
        self,
        where: RunFilter,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
        oldest_first: bool = False,
    ) -> list[Row]:
        """Newest first (by start, then instance id), or oldest first, after the keyset."""

    async def counts(self, where: RunFilter) -> dict[str, int]:
        """Runs per status under every filter but the status one."""

    async def changed_since(self, after: tuple[datetime, str] | None, *, limit: int) -> list[Row]:
        """Runs by last change, oldest first, after the keyset; with none, the newest one."""


class OperatorLog(Protocol):
    """The operator audit log (store.operator_log_repo)."""

    async def record(
        self, *, operator: str, action: str, target: str, reason: str, at: datetime, outcome: str
    ) -> uuid.UUID:
        """Append one entry; its id."""

    async def page(
        self, *, target: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Row]:
        """Newest first (by time, then id), after the keyset `after`."""


class BulkActions(Protocol):
    """Operators' bulk actions over saga runs (store.bulk_actions_repo)."""

    async def create(
        self,
        *,
        operator: str,
        key: str,
        action: str,
        filter: dict[str, Any],
        reason: str,
        matched: int,
        now: datetime,
    ) -> tuple[Row, bool]:
        """The bulk action under (operator, key), made now or before; True if made now."""

    async def get(self, bulk_id: uuid.UUID) -> Row | None:
        """One bulk action."""

    async def recent(self, limit: int) -> list[Row]:
        """The newest first."""

    async def claim(self, *, now: datetime, lease: timedelta) -> Row | None:
        """A running bulk action no replica holds, held by this one until the lease ends."""

    async def advance(
        self,
        bulk_id: uuid.UUID,
        *,
        after: tuple[datetime, str],
        outcome: str,
        now: datetime,
        lease: timedelta,
    ) -> None:
        """One more run handled (done, skipped or failed), the lease renewed."""

    async def release(self, bulk_id: uuid.UUID) -> None:
        """Let go of the lease after a batch."""

    async def finish(self, bulk_id: uuid.UUID, *, now: datetime) -> None:
        """Every run handled."""


class OpsHealth(Protocol):
    """The operators' health numbers (store.ops_health_repo)."""

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Unpublished events, and the oldest one's time."""

    async def consumer(
        self, consumer: str, *, sources: list[str], subscribed: list[str], since: datetime
    ) -> Row:
        """`consumer`'s last handled event (last_at), how many since `since` (recent), and
        its lag: unhandled events published since `since` that reach it (behind), and the
        oldest one's publication time (oldest_behind)."""

    async def saga_minutes(self, since: datetime) -> list[Row]:
        """Per minute since `since`: runs started, completed and failed."""

    async def reminder_lateness(self, since: datetime) -> tuple[int, float | None, float | None]:
        """reminder.due events since `since`: how many, p50 and p99 lateness in seconds."""


class Housekeeping(Protocol):
    async def prune(self, table: str, *, older_than: timedelta, limit: int) -> int:
        """Delete at most `limit` of `table`'s rows that have outlived `older_than`; how many."""


class Tasks(Protocol):
    """The task aggregate: whole task rows (series columns, tags and reminders folded in)
    and the writes the task use cases make. store.tasks_repo.SqlTasks says what each does."""

    def sort_key(self, row: Row, sort_name: str) -> list[Any]: ...
    def decode_key(self, sort_name: str, values: Sequence[Any]) -> list[Any]: ...
    async def list_rows(
        self,
        user_id: str,
        f: TaskFilter,
        sort_name: str,
        limit: int,
        after: Sequence[Any] | None,
    ) -> list[dict[str, Any]]: ...
    async def get_rows(
        self, user_id: str, ids: Sequence[uuid.UUID], *, lock: bool = False
    ) -> list[dict[str, Any]]: ...
    async def get_row(
        self, user_id: str, task_id: uuid.UUID, *, lock: bool = False
    ) -> dict[str, Any] | None: ...
    async def progress(self, user_id: str, task_id: uuid.UUID) -> dict[str, Any] | None:
        """id, status, series_id, series_state and occurrence_index; None when not found."""

    async def next_in_series(
        self, user_id: str, series_id: uuid.UUID, after_index: int
    ) -> uuid.UUID | None: ...
    async def last_in_series(self, user_id: str, series_id: uuid.UUID) -> uuid.UUID | None:
        """The series' latest occurrence, open or closed."""

    async def stored_occurrence_id(
        self, user_id: str, series_id: uuid.UUID, index: int
    ) -> uuid.UUID: ...
    async def tag_ids(self, user_id: str, names: Sequence[str]) -> dict[str, uuid.UUID]: ...
    async def ensure_tags(self, user_id: str, names: Sequence[str]) -> list[uuid.UUID]: ...
    async def set_task_tags(
        self, task_id: uuid.UUID, ids: Sequence[uuid.UUID], *, fresh: bool = False
    ) -> None:
        """`fresh`: the task was inserted in this transaction, so it has none to remove."""

    async def insert_task(self, values: dict[str, Any]) -> bool: ...
    async def update_task(self, user_id: str, task_id: uuid.UUID, values: dict) -> None: ...
    async def replace_reminders(
        self,
        user_id: str,
        task_id: uuid.UUID,
        rows: Sequence[dict[str, Any]],
        *,
        fresh: bool = False,
    ) -> None:
        """`fresh`: as for set_task_tags."""

    async def cancel_pending_reminders(self, task_id: uuid.UUID) -> None: ...
    async def restore_cancelled_reminders(self, task_id: uuid.UUID, now: datetime) -> None: ...
    async def delete_tasks(self, user_id: str, ids: Sequence[uuid.UUID]) -> None: ...
    async def series_task_ids(self, user_id: str, series_id: uuid.UUID) -> list: ...
    async def insert_series(self, values: dict[str, Any]) -> None: ...
    async def update_series(self, user_id: str, series_id: uuid.UUID, values: dict) -> None: ...


class Idempotency(Protocol):
    async def find(self, user_id: str, key: str) -> tuple[str, Any] | None:
        """(operation, stored result JSON) of the key, or None when it is new."""

    async def keep(self, user_id: str, key: str, operation: str, result_json: str) -> None:
        """Store the first result under the key; a concurrent first wins."""


class UnitOfWork(Protocol):
    """One transaction: entering begins it, `commit` ends it (writing the recorded events
    to the outbox in it), and leaving without a commit rolls it back. The repositories are
    there between entering and leaving."""

    clock: Clock
    tasks: Tasks
    idempotency: Idempotency
    inbox: Inbox
    outbox: Outbox
    audit: AuditLog
    notifications: Notifications
    webhooks: Webhooks
    tags: Tags
    reminders: Reminders
    series: SeriesStore
    dead_letters: DeadLetters
    saga_runs: SagaRuns
    operator_log: OperatorLog
    bulk_actions: BulkActions
    ops_health: OpsHealth
    housekeeping: Housekeeping

    async def __aenter__(self) -> Self:
        """Begin."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed, and end."""

    def reading(self) -> Self:
        """This unit of work only reads: no transaction, so no BEGIN and no ROLLBACK round
        trip, and each statement reads its own snapshot. Use it as `async with uow.reading()`
        where the reads need not agree with each other."""

    def now(self) -> datetime:
        """One instant per unit of work: every timestamp it writes agrees."""

    def record(self, event: Event) -> None:
        """A domain event to publish if, and once, the unit of work commits."""

    async def commit(self) -> None:
        """Commit the changes and the recorded events together."""


UnitOfWorkFactory = Callable[[], UnitOfWork]
