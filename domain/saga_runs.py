"""A saga run: one attempt at closing an occurrence through the complete_occurrence workflow,
as the operators' read model keeps it. Dapr lists instance ids only, with no filters, so the
dashboard filters and pages this instead."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.tasks import Status


class SagaStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"
    SUSPENDED = "suspended"


# a run in one of these is over: no later step or reconcile changes it
FINISHED = frozenset({SagaStatus.COMPLETED, SagaStatus.FAILED, SagaStatus.TERMINATED})
# a run in one of these has a live instance that may still move on
LIVE = frozenset({SagaStatus.PENDING, SagaStatus.RUNNING, SagaStatus.SUSPENDED})


class SagaKind(StrEnum):
    COMPLETE = "complete"
    SKIP = "skip"


@dataclass(frozen=True)
class Ended:
    """A run the read model has just ended: what the saga metrics count."""

    kind: SagaKind
    status: SagaStatus
    seconds: float


def kind_of(status: Status) -> SagaKind:
    """The kind of run that closes an occurrence as `status`."""
    return SagaKind.SKIP if status is Status.SKIPPED else SagaKind.COMPLETE


def from_runtime(runtime_status: str) -> SagaStatus:
    """The run status for a workflow runtime status name (the SDK's WorkflowStatus names:
    RUNNING, COMPLETED, FAILED, TERMINATED, PENDING, SUSPENDED; anything else is running,
    the runtime still owns it)."""
    try:
        return SagaStatus(runtime_status.lower())
    except ValueError:
        return SagaStatus.RUNNING


class Step(StrEnum):
    """Where a run is: the saga's activities (workflows/complete_occurrence.py)."""

    ADVANCE = "advance"  # close, ask the series for the next, record it
    REOPEN = "reopen"  # the compensation


@dataclass
class RunFilter:
    """The dashboard's filters over runs; None (or empty) leaves a column free."""

    statuses: Sequence[str] = ()
    kind: str | None = None
    user_id: str | None = None
    task_id: uuid.UUID | None = None
    series_id: uuid.UUID | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    failure: str | None = None  # a substring of the failure message, in any case
    latest_only: bool = False  # only each occurrence's latest attempt (one not retried)


@dataclass(frozen=True)
class HistoryItem:
    """One event of an instance's history, as the runtime keeps it (GetInstanceHistory)."""

    event_id: int
    at: datetime
    kind: str  # the SDK's WorkflowHistoryEventType name: TASK_SCHEDULED, TASK_FAILED, ...
    name: str | None
    task_scheduled_id: int | None
    failure: str | None


@dataclass(frozen=True)
class TimelineStep:
    """One activity call: when it was scheduled and ended, how, and which try it was."""

    name: str
    attempt: int  # 1 for the first call of this activity, 2 for its first retry, ...
    started_at: datetime
    ended_at: datetime | None  # None: still running
    outcome: str  # "completed", "failed" or "running"
    failure: str | None

    @property
    def duration_ms(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() * 1000


def timeline(history: Sequence[HistoryItem]) -> list[TimelineStep]:
    """The activity calls of a history, in the order they were scheduled. A completion or
    failure names its call by the scheduling event's id; the SDK's retry policy schedules
    each retry as a call of its own, so retries count per activity name."""
    ends = {
        item.task_scheduled_id: item
        for item in history
        if item.kind in ("TASK_COMPLETED", "TASK_FAILED") and item.task_scheduled_id is not None
    }
    tries: dict[str, int] = {}
    steps = []
    for item in history:
        if item.kind != "TASK_SCHEDULED":
            continue
        name = item.name or "?"
        tries[name] = tries.get(name, 0) + 1
        end = ends.get(item.event_id)
        outcome = "running" if end is None else end.kind.removeprefix("TASK_").lower()
        steps.append(
            TimelineStep(
                name=name,
                attempt=tries[name],
                started_at=item.at,
                ended_at=end.at if end else None,
                outcome=outcome,
                failure=end.failure if end else None,
            )
        )
    return steps
