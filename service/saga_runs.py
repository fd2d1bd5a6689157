"""The operators' read model of the completion saga: one run per attempt, written by the code
that starts an attempt and by the saga's steps in their own transactions, listed and
filtered for the dashboard, and reconciled against the workflow runtime for runs that went
quiet (a crash between a step and its write must not leave a wrong status for long).

Operator data: runs are listed across users; only operators reach these use cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.errors import NotFound
from domain.saga_runs import (
    FINISHED,
    Ended,
    RunFilter,
    SagaKind,
    SagaStatus,
    Step,
    from_runtime,
    kind_of,
)
from service.completion import operation_attempt, operation_id
from service.keyset import decode_cursor, encode_cursor
from service.occurrences import CloseRequest
from service.unit_of_work import Row, UnitOfWork, UnitOfWorkFactory


class SagaRunFilter(BaseModel):
    """The dashboard's filters over runs."""

    model_config = ConfigDict(extra="forbid")

    status: list[SagaStatus] = Field(default_factory=list, description="any of these")
    kind: SagaKind | None = None
    user: str | None = Field(None, min_length=1, max_length=200)
    task_id: uuid.UUID | None = None
    series_id: uuid.UUID | None = None
    started_after: AwareDatetime | None = None
    started_before: AwareDatetime | None = None
    failure: str | None = Field(None, min_length=1, max_length=200, description="in any case")

    def where(self) -> RunFilter:
        return RunFilter(
            statuses=[s.value for s in self.status],
            kind=self.kind.value if self.kind else None,
            user_id=self.user,
            task_id=self.task_id,
            series_id=self.series_id,
            started_after=self.started_after,
            started_before=self.started_before,
            failure=self.failure,
        )


class SagaRunQuery(SagaRunFilter):
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=1000)


class SagaRunPublic(BaseModel):
    instance_id: str
    kind: SagaKind
    user_id: str
    task_id: uuid.UUID
    series_id: uuid.UUID | None
    status: SagaStatus
    attempt: int
    retry_of: str | None = Field(description="the instance of the attempt this one retries")
    started_at: AwareDatetime
    updated_at: AwareDatetime
    finished_at: AwareDatetime | None
    step: str | None = Field(description="the step it is on, while it runs")
    failure_message: str | None
    failure_step: str | None
    next_task_id: uuid.UUID | None = Field(description="the next occurrence it recorded")
    purged_at: AwareDatetime | None = Field(
        None, description="when an operator purged its instance: the runtime keeps no history"
    )


class SagaRunPage(BaseModel):
    items: list[SagaRunPublic]
    next_cursor: str | None
    counts: dict[SagaStatus, int] = Field(
        description="runs per status under the other filters, for every status"
    )


class RunEvent(BaseModel):
    event_id: uuid.UUID
    type: str
    task_id: uuid.UUID
    created_at: AwareDatetime
    published_at: AwareDatetime | None


class RunAudit(BaseModel):
    action: str
    actor: str
    at: AwareDatetime


class SagaRunDetail(BaseModel):
    run: SagaRunPublic
    lineage: list[SagaRunPublic] = Field(description="every attempt at the occurrence")
    events: list[RunEvent] = Field(
        description="the outbox's events about the occurrence and the next one, oldest first "
        "(as far as the outbox keeps them)"
    )
    audit: list[RunAudit] = Field(description="the occurrence's audit entries, newest first")


# ---- written by the saga's starter and its steps, inside their own transactions ----


async def scheduled(uow: UnitOfWork, request: CloseRequest, attempt: int) -> None:
    """The starter scheduled attempt `attempt` (the step may have written it first)."""
    await _seen(uow, request, operation_id(request.task_id, attempt), SagaStatus.PENDING, None)


async def stepping(uow: UnitOfWork, request: CloseRequest, instance_id: str, step: Step) -> None:
    """A step runs: in the step's own transaction, so the run is running only if it did."""
    await _seen(uow, request, instance_id, SagaStatus.RUNNING, step)


async def completed(
    uow: UnitOfWork, instance_id: str, next_task_id: uuid.UUID | None
) -> Ended | None:
    """None when the run had ended already (a retried step): count each end once."""
    now = uow.now()
    row = await uow.saga_runs.finished(
        instance_id, status=SagaStatus.COMPLETED, now=now, next_task_id=next_task_id
    )
    return _ended(row, SagaStatus.COMPLETED, now)


async def failed(uow: UnitOfWork, instance_id: str, step: Step, message: str) -> Ended | None:
    now = uow.now()
    row = await uow.saga_runs.finished(
        instance_id,
        status=SagaStatus.FAILED,
        now=now,
        failure_message=headline(message),
        failure_step=step,
    )
    return _ended(row, SagaStatus.FAILED, now)


def _ended(row: Row | None, status: SagaStatus, now: datetime) -> Ended | None:
    if row is None:
        return None
    seconds = max((now - row["started_at"]).total_seconds(), 0.0)
    return Ended(kind=SagaKind(row["kind"]), status=status, seconds=seconds)


def headline(message: str, limit: int = 500) -> str:
    """A failure's first line, at most `limit` characters: the list of runs shows it, and a
    driver's message goes on to the statement and its parameters, a user's task title
    among them (the full text stays in the runtime's history, on the run's own page)."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


async def _seen(
    uow: UnitOfWork,
    request: CloseRequest,
    instance_id: str,
    status: SagaStatus,
    step: Step | None,
) -> None:
    attempt = operation_attempt(instance_id)
    await uow.saga_runs.started(
        instance_id=instance_id,
        kind=kind_of(request.status),
        user_id=request.user_id,
        task_id=request.task_id,
        attempt=attempt,
        retry_of=operation_id(request.task_id, attempt - 1) if attempt > 1 else None,
        status=status,
        step=step,
        now=uow.now(),
    )


# ---- read by the dashboard ----


async def list_runs(uow: UnitOfWork, query: SagaRunQuery) -> SagaRunPage:
    """Newest first; `next_cursor` fetches the page after this one."""
    after = decode_cursor(query.cursor) if query.cursor else None
    where = query.where()
    async with uow.reading():
        rows = await uow.saga_runs.page(where, after=after, limit=query.limit + 1)
        counts = await uow.saga_runs.counts(where)
    more = len(rows) > query.limit
    items = [SagaRunPublic.model_validate(dict(r)) for r in rows[: query.limit]]
    cursor = encode_cursor(items[-1].started_at, items[-1].instance_id) if more else None
    return SagaRunPage(
        items=items,
        next_cursor=cursor,
        counts={status: counts.get(status, 0) for status in SagaStatus},
    )


async def get_run(uow: UnitOfWork, instance_id: str) -> SagaRunDetail:
    async with uow.reading():
        row = await uow.saga_runs.get(instance_id)
        if row is None:
            raise NotFound(f"saga run {instance_id} does not exist")
        lineage = await uow.saga_runs.lineage(row["task_id"])
        tasks = [t for t in (row["task_id"], row["next_task_id"]) if t is not None]
        events = await uow.outbox.of_tasks(row["user_id"], tasks, limit=100)
        audit = await uow.audit.newest(row["user_id"], task_id=row["task_id"], limit=50)
    return SagaRunDetail(
        run=SagaRunPublic.model_validate(dict(row)),
        lineage=[SagaRunPublic.model_validate(dict(r)) for r in lineage],
        events=[RunEvent.model_validate(dict(e)) for e in events],
        audit=[RunAudit.model_validate(dict(a)) for a in audit],
    )


async def changes(
    uow: UnitOfWork, after: tuple[datetime, str] | None, limit: int = 100
) -> tuple[list[SagaRunPublic], tuple[datetime, str] | None]:
    """Runs changed since the keyset `after`, oldest change first, and the keyset to ask
    from next (the live pages' feed). With no keyset: nothing, and the newest change's."""
    async with uow.reading():
        rows = await uow.saga_runs.changed_since(after, limit=limit)
    if not rows:
        return [], after
    last = (rows[-1]["updated_at"], rows[-1]["instance_id"])
    if after is None:
        return [], last
    return [SagaRunPublic.model_validate(dict(r)) for r in rows], last


# ---- reconciled against the runtime ----


RuntimeStatus = Callable[[str], Awaitable[tuple[str, str | None] | None]]
"""What the runtime says of an instance: its status name (the SDK's WorkflowStatus names)
and failure message, or None when it has no such instance."""

UNKNOWN_TO_RUNTIME = "the workflow runtime has no such instance (never scheduled, or purged)"


def _settled_failure(seen: tuple[str, str | None] | None) -> str | None:
    """What a run settled from the runtime says failed: none for one that did not."""
    if seen is None:
        return UNKNOWN_TO_RUNTIME
    return headline(seen[1]) if seen[1] else None


async def reconcile(
    uow_factory: UnitOfWorkFactory,
    runtime_status: RuntimeStatus,
    *,
    quiet_for: timedelta,
    now: datetime,
    limit: int = 100,
) -> int:
    """Settle up to `limit` live runs not heard from for `quiet_for` with what the runtime
    says of them; the number whose status changed."""
    async with uow_factory().reading() as uow:
        stale = await uow.saga_runs.stale(before=now - quiet_for, limit=limit)
    changed = 0
    for instance_id in stale:
        seen = await runtime_status(instance_id)
        status = SagaStatus.FAILED if seen is None else from_runtime(seen[0])
        async with uow_factory() as uow:
            row = await uow.saga_runs.get(instance_id)
            if row is None or row["status"] in FINISHED:
                continue
            if status in FINISHED:
                await uow.saga_runs.finished(
                    instance_id,
                    status=status,
                    now=uow.now(),
                    failure_message=_settled_failure(seen),
                )
            else:
                await uow.saga_runs.touched(instance_id, status=status, now=uow.now())
            await uow.commit()
        changed += status != row["status"]
    return changed
