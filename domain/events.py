"""Event schemas. One class per event type; each carries its own schema_version.

Events are recorded by the service layer in the same transaction as the change (the outbox)
and published after commit as CloudEvents whose `id` is `event_id`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

TASK_EVENTS = "task-events"
REMINDERS = "reminders"
TASK_UPDATES = "task-updates"
DEAD_LETTERS = "dlq-events"

# The consumers that keep an inbox (processed_events), by name, and the topics each reads.
AUDIT, NOTIFIER, LIVE = "audit", "notifier", "live"
SUBSCRIBED: dict[str, tuple[str, ...]] = {
    AUDIT: (TASK_EVENTS,),
    NOTIFIER: (TASK_EVENTS, REMINDERS),
    LIVE: (TASK_UPDATES,),
}


def fan_out(topic: str) -> list[str]:
    """The topics an event recorded for `topic` is published to: task events also go to
    the change feed."""
    return [topic, TASK_UPDATES] if topic == TASK_EVENTS else [topic]


# the topics events are recorded for (Event.topic), and every topic they are published to
RECORDED = (TASK_EVENTS, REMINDERS)
PUBLISHED = tuple(dict.fromkeys(t for r in RECORDED for t in fan_out(r)))


def sources(subscribed: tuple[str, ...]) -> list[str]:
    """The recorded topics whose events reach a consumer of `subscribed`."""
    return [t for t in RECORDED if set(fan_out(t)) & set(subscribed)]


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[str] = TASK_EVENTS
    type: str
    schema_version: int = 1
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: datetime
    user_id: str
    task_id: uuid.UUID
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def cloudevent_type(self) -> str:
        return f"tickler.{self.type}.v{self.schema_version}"


class TaskCreated(Event):
    type: Literal["task.created"] = "task.created"


class TaskUpdated(Event):
    type: Literal["task.updated"] = "task.updated"


class TaskCompleted(Event):
    type: Literal["task.completed"] = "task.completed"


class TaskSkipped(Event):
    type: Literal["task.skipped"] = "task.skipped"


class TaskDeleted(Event):
    type: Literal["task.deleted"] = "task.deleted"


class TaskCompletionFailed(Event):
    type: Literal["task.completion_failed"] = "task.completion_failed"


class ReminderDue(Event):
    topic: ClassVar[str] = REMINDERS
    type: Literal["reminder.due"] = "reminder.due"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        TaskCreated,
        TaskUpdated,
        TaskCompleted,
        TaskSkipped,
        TaskDeleted,
        TaskCompletionFailed,
        ReminderDue,
    )
}


def parse_event(payload: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form (consumers use this)."""
    return EVENT_TYPES[payload["type"]].model_validate(payload)
