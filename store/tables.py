"""SQLModel tables. Every row that belongs to a user carries `user_id`, and every query
filters on it (OWASP API1): ids alone never reach another user's rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata


def _ts(nullable: bool = True, **kw: Any) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, **kw))


def _now_column() -> Any:
    return Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class Series(SQLModel, table=True):
    __tablename__ = "series"

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    user_id: str = Field(sa_column=Column(Text, nullable=False, index=True))
    rrule: str = Field(sa_column=Column(Text, nullable=False))
    timezone: str = Field(sa_column=Column(Text, nullable=False))
    dtstart: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    mode: str = Field(sa_column=Column(Text, nullable=False))
    catch_up: str = Field(sa_column=Column(Text, nullable=False))
    exdates: list[datetime] = Field(
        default_factory=list,
        sa_column=Column(
            ARRAY(DateTime(timezone=False)), nullable=False, server_default=text("'{}'")
        ),
    )
    state: str = Field(default="active", sa_column=Column(Text, nullable=False))
    created_at: datetime | None = _now_column()
    updated_at: datetime | None = _now_column()


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("series_id", "occurrence_index", name="uq_tasks_series_occurrence"),
        Index(
            "ix_tasks_user_due",
            "user_id",
            text("coalesce(due_at, 'infinity'::timestamptz)"),
            "id",
        ),
        Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        Index("ix_tasks_user_priority", "user_id", "priority", "id"),
        Index(
            "ix_tasks_user_status_due",
            "user_id",
            "status",
            text("coalesce(due_at, 'infinity'::timestamptz)"),
            "id",
        ),
        Index(
            "ix_tasks_user_status_priority_due",
            "user_id",
            "status",
            "priority",
            text("coalesce(due_at, 'infinity'::timestamptz)"),
            "id",
        ),
        Index("ix_tasks_search", "user_id", "search", postgresql_using="gin"),
        Index("ix_tasks_series", "series_id"),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    priority: int = Field(sa_column=Column(SmallInteger, nullable=False))
    status: str = Field(default="open", sa_column=Column(Text, nullable=False))
    due_at: datetime | None = _ts()
    timezone: str = Field(default="UTC", sa_column=Column(Text, nullable=False))
    series_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(UUID(as_uuid=True), ForeignKey("series.id", ondelete="SET NULL")),
    )
    occurrence_index: int | None = None
    completed_at: datetime | None = _ts()
    created_at: datetime | None = _now_column()
    updated_at: datetime | None = _now_column()
    version: int = Field(default=1, nullable=False)
    search: str | None = Field(
        default=None,
        sa_column=Column(
            TSVECTOR,
            Computed(
                "setweight(to_tsvector('english', title), 'A') || "
                "setweight(to_tsvector('english', description), 'B')",
                persisted=True,
            ),
        ),
    )


class Tag(SQLModel, table=True):
    __tablename__ = "tags"
    __table_args__ = (Index("uq_tags_user_name", "user_id", text("lower(name)"), unique=True),)

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))


class TaskTag(SQLModel, table=True):
    __tablename__ = "task_tags"
    __table_args__ = (Index("ix_task_tags_tag", "tag_id", "task_id"),)

    task_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
        )
    )
    tag_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
        )
    )


class Reminder(SQLModel, table=True):
    __tablename__ = "reminders"
    __table_args__ = (
        Index("ix_reminders_task", "task_id"),
        Index(
            "ix_reminders_user_pending",
            "user_id",
            "fire_at",
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    task_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False
        )
    )
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    position: int = Field(sa_column=Column(SmallInteger, nullable=False))
    before_minutes: int | None = None
    at: datetime | None = _ts()
    fire_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    state: str = Field(default="pending", sa_column=Column(Text, nullable=False))
    sent_at: datetime | None = _ts()


class OutboxEvent(SQLModel, table=True):
    """Events written in the same transaction as the change they describe (outbox pattern)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        # the consumers' lag (the health panel) and the retention prune, by publication time
        Index(
            "ix_outbox_published_at",
            "published_at",
            postgresql_where=text("published_at IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False, unique=True))
    topic: str = Field(sa_column=Column(Text, nullable=False))
    type: str = Field(sa_column=Column(Text, nullable=False))
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime | None = _now_column()
    published_at: datetime | None = _ts()
    # Set by a dead letter's redrive: publish to this topic alone, not to every topic the
    # event type fans out to (the others did handle it).
    redrive_topic: str | None = Field(default=None, sa_column=Column(Text))
    # the W3C traceparent of the transaction that wrote it: the relay's CloudEvent carries
    # it on, so the consumers' spans join the change's trace
    trace_parent: str | None = Field(default=None, sa_column=Column(Text))


class IdempotentResult(SQLModel, table=True):
    """The first result of a request made with an idempotency key, replayed on retries."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    user_id: str = Field(sa_column=Column(Text, primary_key=True))
    key: str = Field(sa_column=Column(Text, primary_key=True))
    operation: str = Field(sa_column=Column(Text, nullable=False))
    result: dict = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime | None = _now_column()


class ProcessedEvent(SQLModel, table=True):
    """Events a consumer has handled, keyed by its name: redeliveries are recognised and skipped.
    Written in the same transaction as the consumer's effect."""

    __tablename__ = "processed_events"
    __table_args__ = (Index("ix_processed_events_processed_at", "processed_at"),)

    consumer: str = Field(sa_column=Column(Text, primary_key=True))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    processed_at: datetime | None = _now_column()


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at", "id"),)

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    task_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False, unique=True))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = _now_column()
    read_at: datetime | None = _ts()


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_user_task_at", "user_id", "task_id", "at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    task_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False, unique=True))
    action: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    details: dict = Field(sa_column=Column(JSONB, nullable=False))


class Webhook(SQLModel, table=True):
    """One webhook per user. The secret is kept as given: signing needs it in the clear."""

    __tablename__ = "webhooks"

    user_id: str = Field(sa_column=Column(Text, primary_key=True))
    url: str = Field(sa_column=Column(Text, nullable=False))
    secret: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = _now_column()


class WebhookDelivery(SQLModel, table=True):
    """One delivery per event: its id is sent with every attempt, so receivers can dedupe."""

    __tablename__ = "webhook_deliveries"

    delivery_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False, unique=True))
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int = Field(default=0, nullable=False)
    last_status: str | None = Field(default=None, sa_column=Column(Text))
    delivered_at: datetime | None = _ts()


class DeadLetter(SQLModel, table=True):
    """An event that the pub/sub gave up delivering (its subscription's deadLetterTopic), kept
    until an operator redrives or discards it. Operator data: it is not scoped by user, and
    only operators read it (api/routes/dead_letters.py)."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_first_seen", "first_seen", "id"),
        Index("ix_dead_letters_state_first_seen", "state", "first_seen", "id"),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    # the CloudEvent id as the broker carried it: any string, Tickler's are UUIDs
    event_id: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    topic: str | None = Field(default=None, sa_column=Column(Text))  # None: not known
    event: dict = Field(sa_column=Column(JSONB, nullable=False))  # the whole CloudEvent
    reason: str = Field(sa_column=Column(Text, nullable=False))
    first_seen: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_seen: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    attempts: int = Field(default=1, nullable=False)
    state: str = Field(default="kept", sa_column=Column(Text, nullable=False))
    settled_by: str | None = Field(default=None, sa_column=Column(Text))
    settled_at: datetime | None = _ts()


class SagaRun(SQLModel, table=True):
    """One attempt of the complete_occurrence saga, for the operators' dashboard: written by
    the code that starts it and by its activities, in their own transactions, and reconciled
    against the runtime (workflows/run_reconcile.py). Operator data: its routes admit
    operators only; `user_id` is there to filter by, not to scope."""

    __tablename__ = "saga_runs"
    __table_args__ = (
        Index("ix_saga_runs_started", "started_at", "instance_id"),
        Index("ix_saga_runs_status_started", "status", "started_at", "instance_id"),
        Index("ix_saga_runs_user_started", "user_id", "started_at", "instance_id"),
        Index("ix_saga_runs_task", "task_id"),
        Index("ix_saga_runs_series", "series_id"),
        Index("ix_saga_runs_updated", "updated_at", "instance_id"),  # the live page's feed
        # the reconcile's scan: live runs not heard from for a while
        Index(
            "ix_saga_runs_live_updated",
            "updated_at",
            postgresql_where=text("status IN ('pending', 'running', 'suspended')"),
        ),
    )

    instance_id: str = Field(sa_column=Column(Text, primary_key=True))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    task_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    series_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    status: str = Field(sa_column=Column(Text, nullable=False))
    attempt: int = Field(default=1, nullable=False)
    retry_of: str | None = Field(default=None, sa_column=Column(Text))
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = _ts()
    step: str | None = Field(default=None, sa_column=Column(Text))
    failure_message: str | None = Field(default=None, sa_column=Column(Text))
    failure_step: str | None = Field(default=None, sa_column=Column(Text))
    next_task_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    # an operator purged its instance from the runtime (its history is gone)
    purged_at: datetime | None = _ts()


class OperatorAction(SQLModel, table=True):
    """The operator audit log: who did what to which saga run or dead letter, when and why,
    and how it ended. Written in the transaction that records the action's effect."""

    __tablename__ = "operator_actions"
    __table_args__ = (Index("ix_operator_actions_at", "at", "id"),)

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    operator: str = Field(sa_column=Column(Text, nullable=False))
    action: str = Field(sa_column=Column(Text, nullable=False))
    target: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    outcome: str = Field(sa_column=Column(Text, nullable=False))


class BulkAction(SQLModel, table=True):
    """An operator's action over every saga run a filter matched when it was confirmed:
    run in keyset order by whichever replica holds its lease, its progress saved after
    each batch, so a reload or a restart resumes it and never acts on a run twice (each
    action is refused by a run it already moved)."""

    __tablename__ = "bulk_actions"
    __table_args__ = (
        UniqueConstraint("operator", "idempotency_key", name="uq_bulk_actions_key"),
        Index("ix_bulk_actions_created", "created_at", "id"),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    operator: str = Field(sa_column=Column(Text, nullable=False))
    idempotency_key: str = Field(sa_column=Column(Text, nullable=False))
    action: str = Field(sa_column=Column(Text, nullable=False))
    filter: dict = Field(sa_column=Column(JSONB, nullable=False))  # SagaRunQuery, as JSON
    reason: str = Field(sa_column=Column(Text, nullable=False))
    matched: int = Field(nullable=False)  # what the confirmed dry run counted
    state: str = Field(sa_column=Column(Text, nullable=False))  # running, done
    done: int = Field(default=0, nullable=False)
    skipped: int = Field(default=0, nullable=False)  # refused by the run: already moved
    failed: int = Field(default=0, nullable=False)
    after_at: datetime | None = _ts()  # the keyset of the last run handled
    after_id: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    lease_until: datetime | None = _ts()
    finished_at: datetime | None = _ts()
