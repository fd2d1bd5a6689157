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
