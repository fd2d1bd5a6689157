"""What an operator does to a saga run: terminate, suspend, resume, purge, or retry a failed or
terminated one as a new attempt that keeps the lineage. Each takes a reason, and each that
was done is recorded in the operator audit log (who, what, when, why) in the transaction
that moves the run's read model.

The runtime is asked first: a refusal there (or an outage) leaves the read model and the
log as they were. A crash between the runtime call and the write leaves the run to the
reconcile (service.saga_runs.reconcile), which reads the runtime's word.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.errors import Conflict, NotFound
from domain.saga_runs import FINISHED, LIVE, HistoryItem, SagaKind, SagaStatus, timeline
from domain.tasks import Status
from service.keyset import decode_uuid_cursor, encode_cursor
from service.unit_of_work import UnitOfWork, UnitOfWorkFactory


class SagaAction(StrEnum):
    TERMINATE = "terminate"
    SUSPEND = "suspend"
    RESUME = "resume"
    PURGE = "purge"
    RETRY = "retry"


# the runs each action applies to
ALLOWED: dict[SagaAction, frozenset[SagaStatus]] = {
    SagaAction.TERMINATE: LIVE,
    SagaAction.SUSPEND: frozenset({SagaStatus.PENDING, SagaStatus.RUNNING}),
    SagaAction.RESUME: frozenset({SagaStatus.SUSPENDED}),
    SagaAction.PURGE: FINISHED,
    SagaAction.RETRY: frozenset({SagaStatus.FAILED, SagaStatus.TERMINATED}),
}
# the run's status once the runtime has done it (purge and retry leave the run as it was)
AFTER = {
    SagaAction.TERMINATE: SagaStatus.TERMINATED,
    SagaAction.SUSPEND: SagaStatus.SUSPENDED,
    SagaAction.RESUME: SagaStatus.RUNNING,
}


class SagaControl(Protocol):
    """The workflow runtime's hand on an instance (workflows.sagas.Sagas)."""

    async def terminate(self, instance_id: str, reason: str) -> None:
        """End the instance where it is."""

    async def suspend(self, instance_id: str) -> None:
        """Hold the instance before its next step."""

    async def resume(self, instance_id: str) -> None:
        """Let a suspended instance go on."""

    async def purge(self, instance_id: str) -> None:
        """Delete a finished instance's state and history from the runtime."""

    async def retry(self, user_id: str, task_id: uuid.UUID, status: Status) -> str:
        """Start the occurrence's next attempt; its instance id."""

    async def history(self, instance_id: str) -> list[HistoryItem] | None:
        """The instance's history, oldest first; None if the runtime has no such instance."""

    async def payloads(self, instance_id: str) -> tuple[str | None, str | None] | None:
        """The instance's input and output as the runtime keeps them (JSON); None if none."""


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="why; kept in the log")


class ActionOutcome(BaseModel):
    instance_id: str
    action: SagaAction
    status: SagaStatus = Field(description="the run's status after the action")
    retried_as: str | None = Field(description="the new attempt's instance id, for a retry")


class LoggedAction(BaseModel):
    id: uuid.UUID
    operator: str
    action: str
    target: str = Field(description="the saga run's instance id")
    reason: str
    at: AwareDatetime
    outcome: str


class ActionLogPage(BaseModel):
    items: list[LoggedAction]
    next_cursor: str | None


async def act(
    uow_factory: UnitOfWorkFactory,
    control: SagaControl,
    operator: str,
    instance_id: str,
    action: SagaAction,
    reason: str,
) -> ActionOutcome:
    async with uow_factory().reading() as uow:
        run = await uow.saga_runs.get(instance_id)
        if run is None:
            raise NotFound(f"saga run {instance_id} does not exist")
        lineage = await uow.saga_runs.lineage(run["task_id"])
    status = SagaStatus(run["status"])
    if status not in ALLOWED[action]:
        raise Conflict(f"a {status} saga run cannot be {_done(action)}")
    if action is SagaAction.PURGE and run["purged_at"] is not None:
        raise Conflict(f"saga run {instance_id} was purged already")
    if action is SagaAction.RETRY and lineage[-1]["instance_id"] != instance_id:
        raise Conflict(f"attempt {lineage[-1]['attempt']} already retries this run")

    retried_as = await _ask_runtime(control, run, action, reason)
    async with uow_factory() as uow:
        await _move_run(uow, instance_id, action, operator, reason)
        await uow.operator_log.record(
            operator=operator,
            action=action,
            target=instance_id,
            reason=reason,
            at=uow.now(),
            outcome=f"retried as {retried_as}" if retried_as else _done(action),
        )
        await uow.commit()
    return ActionOutcome(
        instance_id=instance_id,
        action=action,
        status=AFTER.get(action, status),
        retried_as=retried_as,
    )


async def _ask_runtime(
    control: SagaControl, run: dict, action: SagaAction, reason: str
) -> str | None:
    instance_id = run["instance_id"]
    match action:
        case SagaAction.TERMINATE:
            await control.terminate(instance_id, reason)
        case SagaAction.SUSPEND:
            await control.suspend(instance_id)
        case SagaAction.RESUME:
            await control.resume(instance_id)
        case SagaAction.PURGE:
            await control.purge(instance_id)
        case SagaAction.RETRY:
            closes = Status.SKIPPED if run["kind"] == SagaKind.SKIP else Status.COMPLETED
            return await control.retry(run["user_id"], run["task_id"], closes)
    return None


async def _move_run(
    uow: UnitOfWork, instance_id: str, action: SagaAction, operator: str, reason: str
) -> None:
    if action is SagaAction.TERMINATE:
        await uow.saga_runs.finished(
            instance_id,
            status=SagaStatus.TERMINATED,
            now=uow.now(),
            failure_message=f"terminated by {operator}: {reason}",
        )
    elif action is SagaAction.PURGE:
        await uow.saga_runs.purged(instance_id, now=uow.now())
    elif action in AFTER:
        await uow.saga_runs.touched(instance_id, status=AFTER[action], now=uow.now())


def _done(action: SagaAction) -> str:
    return {
        SagaAction.TERMINATE: "terminated",
        SagaAction.SUSPEND: "suspended",
        SagaAction.RESUME: "resumed",
        SagaAction.PURGE: "purged",
        SagaAction.RETRY: "retried",
    }[action]


async def action_log(
    uow: UnitOfWork, *, target: str | None, cursor: str | None, limit: int
) -> ActionLogPage:
    """Newest first; `target` narrows it to one run."""
    after = decode_uuid_cursor(cursor) if cursor else None
    async with uow.reading():
        rows = await uow.operator_log.page(target=target, after=after, limit=limit + 1)
    items = [LoggedAction.model_validate(dict(r)) for r in rows[:limit]]
    more = len(rows) > limit
    return ActionLogPage(
        items=items,
        next_cursor=encode_cursor(items[-1].at, str(items[-1].id)) if more else None,
    )


class HistoryEvent(BaseModel):
    event_id: int = Field(description="-1 for events the runtime numbers not")
    at: AwareDatetime
    kind: str
    name: str | None
    task_scheduled_id: int | None
    failure: str | None


class Step(BaseModel):
    name: str
    attempt: int = Field(description="1 for the first call of this activity, 2 its retry, ...")
    started_at: AwareDatetime
    ended_at: AwareDatetime | None
    duration_ms: float | None
    outcome: str
    failure: str | None


class SagaHistory(BaseModel):
    instance_id: str
    input: str | None = Field(description="the workflow's input, as JSON")
    output: str | None = Field(description="its output, as JSON, once it has one")
    events: list[HistoryEvent] = Field(description="as the runtime keeps them, oldest first")
    steps: list[Step] = Field(description="the activity calls, paired with how they ended")


async def history(control: SagaControl, instance_id: str) -> SagaHistory:
    events = await control.history(instance_id)
    payloads = await control.payloads(instance_id)
    if events is None or payloads is None:
        raise NotFound(f"the workflow runtime has no instance {instance_id} (or it was purged)")
    return SagaHistory(
        instance_id=instance_id,
        input=payloads[0],
        output=payloads[1],
        events=[HistoryEvent.model_validate(e, from_attributes=True) for e in events],
        steps=[
            Step(
                name=s.name,
                attempt=s.attempt,
                started_at=s.started_at,
                ended_at=s.ended_at,
                duration_ms=s.duration_ms,
                outcome=s.outcome,
                failure=s.failure,
            )
            for s in timeline(events)
        ],
    )
