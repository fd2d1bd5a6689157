"""Operators' actions on saga runs: which runs each applies to, what the runtime is asked,
how the read model moves, and the audit log entry (who, what, when, why)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.errors import Conflict, NotFound
from domain.saga_runs import HistoryItem, SagaStatus, Step
from domain.tasks import Status
from service import saga_actions, saga_runs
from service.completion import operation_id
from service.occurrences import CloseRequest
from service.saga_actions import SagaAction
from tests.clocks import FrozenClock
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW


class Runtime:
    """A stand-in for the workflow runtime (workflows.sagas.Sagas), recording each ask."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    async def terminate(self, instance_id: str, reason: str) -> None:
        self.asked.append(("terminate", instance_id, reason))

    async def suspend(self, instance_id: str) -> None:
        self.asked.append(("suspend", instance_id))

    async def resume(self, instance_id: str) -> None:
        self.asked.append(("resume", instance_id))

    async def purge(self, instance_id: str) -> None:
        self.asked.append(("purge", instance_id))

    async def retry(self, user_id: str, task_id: uuid.UUID, status: Status) -> str:
        self.asked.append(("retry", user_id, str(task_id), status.value))
        return operation_id(task_id, 2)

    async def payloads(self, instance_id: str) -> tuple[str | None, str | None] | None:
        return None if instance_id == "purged" else ('{"in": 1}', None)

    async def history(self, instance_id: str) -> list[HistoryItem] | None:
        if instance_id == "purged":
            return None
        return [
            HistoryItem(0, NOW, "TASK_SCHEDULED", "advance_occurrence", None, None),
            HistoryItem(-1, NOW + timedelta(milliseconds=5), "TASK_COMPLETED", None, 0, None),
        ]


@pytest.fixture
def factory(uow: FakeUnitOfWork, clock: FrozenClock):
    return lambda: FakeUnitOfWork(clock, uow.tables)


async def a_run(uow: FakeUnitOfWork, status: SagaStatus = SagaStatus.RUNNING) -> str:
    task_id = uow.add_task("ann")
    request = CloseRequest(user_id="ann", task_id=task_id, status=Status.SKIPPED)
    instance = operation_id(task_id, 1)
    async with uow:
        await saga_runs.stepping(uow, request, instance, Step.ADVANCE)
        if status is SagaStatus.FAILED:
            await saga_runs.failed(uow, instance, Step.ADVANCE, "boom")
        if status is SagaStatus.COMPLETED:
            await saga_runs.completed(uow, instance, None)
        await uow.commit()
    return instance


async def test_terminate_ends_a_live_run_and_logs_who_and_why(uow: FakeUnitOfWork, factory) -> None:
    instance = await a_run(uow)
    runtime = Runtime()
    outcome = await saga_actions.act(
        factory, runtime, "olga", instance, SagaAction.TERMINATE, "stuck on a bad rule"
    )
    assert outcome.status is SagaStatus.TERMINATED and outcome.retried_as is None
    assert runtime.asked == [("terminate", instance, "stuck on a bad rule")]
    run = uow.tables.saga_runs[instance]
    assert run["status"] == "terminated"
    assert run["failure_message"] == "terminated by olga: stuck on a bad rule"
    [entry] = uow.tables.operator_log
    assert (entry["operator"], entry["action"], entry["target"], entry["at"]) == (
        "olga",
        "terminate",
        instance,
        NOW,
    )
    assert (entry["reason"], entry["outcome"]) == ("stuck on a bad rule", "terminated")


async def test_suspend_then_resume(uow: FakeUnitOfWork, factory) -> None:
    instance = await a_run(uow)
    runtime = Runtime()
    await saga_actions.act(factory, runtime, "olga", instance, SagaAction.SUSPEND, "look")
    assert uow.tables.saga_runs[instance]["status"] == "suspended"
    with pytest.raises(Conflict, match="suspended saga run cannot be suspended"):
        await saga_actions.act(factory, runtime, "olga", instance, SagaAction.SUSPEND, "again")
    await saga_actions.act(factory, runtime, "olga", instance, SagaAction.RESUME, "seen")
    assert uow.tables.saga_runs[instance]["status"] == "running"
    assert [a[0] for a in runtime.asked] == ["suspend", "resume"]
    assert [e["action"] for e in uow.tables.operator_log] == ["suspend", "resume"]


async def test_retry_starts_the_next_attempt_of_the_same_kind(uow: FakeUnitOfWork, factory) -> None:
    instance = await a_run(uow, SagaStatus.FAILED)
    runtime = Runtime()
    outcome = await saga_actions.act(factory, runtime, "olga", instance, SagaAction.RETRY, "fixed")
    task_id = uow.tables.saga_runs[instance]["task_id"]
    assert outcome.retried_as == operation_id(task_id, 2)
    assert runtime.asked == [("retry", "ann", str(task_id), "skipped")]
    assert uow.tables.operator_log[0]["outcome"] == f"retried as {outcome.retried_as}"


async def test_a_run_a_later_attempt_retries_is_not_retried_again(
    uow: FakeUnitOfWork, factory
) -> None:
    instance = await a_run(uow, SagaStatus.FAILED)
    row = uow.tables.saga_runs[instance]
    request = CloseRequest(user_id="ann", task_id=row["task_id"], status=Status.SKIPPED)
    async with uow:
        await saga_runs.scheduled(uow, request, 2)
        await uow.commit()
    runtime = Runtime()
    with pytest.raises(Conflict, match="attempt 2 already retries"):
        await saga_actions.act(factory, runtime, "olga", instance, SagaAction.RETRY, "again")
    assert runtime.asked == [] and uow.tables.operator_log == []


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (SagaStatus.COMPLETED, SagaAction.RETRY),
        (SagaStatus.COMPLETED, SagaAction.TERMINATE),
        (SagaStatus.RUNNING, SagaAction.PURGE),
        (SagaStatus.RUNNING, SagaAction.RESUME),
    ],
)
async def test_an_action_its_run_does_not_allow_asks_nothing_and_logs_nothing(
    uow: FakeUnitOfWork, factory, status: SagaStatus, action: SagaAction
) -> None:
    instance = await a_run(uow, status)
    runtime = Runtime()
    with pytest.raises(Conflict):
        await saga_actions.act(factory, runtime, "olga", instance, action, "why")
    assert runtime.asked == [] and uow.tables.operator_log == []
    assert uow.tables.saga_runs[instance]["status"] == status


async def test_purge_keeps_the_run_and_logs_it(uow: FakeUnitOfWork, factory) -> None:
    instance = await a_run(uow, SagaStatus.COMPLETED)
    runtime = Runtime()
    outcome = await saga_actions.act(factory, runtime, "olga", instance, SagaAction.PURGE, "gdpr")
    assert outcome.status is SagaStatus.COMPLETED
    assert runtime.asked == [("purge", instance)]
    assert uow.tables.saga_runs[instance]["purged_at"] == uow.now()
    with pytest.raises(Conflict, match="purged already"):
        await saga_actions.act(factory, runtime, "olga", instance, SagaAction.PURGE, "again")
    assert runtime.asked == [("purge", instance)]
    page = await saga_actions.action_log(uow, target=instance, cursor=None, limit=10)
    assert [(e.action, e.outcome) for e in page.items] == [("purge", "purged")]


async def test_an_unknown_run_is_not_found(factory) -> None:
    with pytest.raises(NotFound):
        await saga_actions.act(factory, Runtime(), "olga", "nope", SagaAction.RETRY, "why")


async def test_history_pairs_calls_and_a_purged_instance_is_not_found() -> None:
    shown = await saga_actions.history(Runtime(), "complete-x")
    assert [e.kind for e in shown.events] == ["TASK_SCHEDULED", "TASK_COMPLETED"]
    assert (shown.input, shown.output) == ('{"in": 1}', None)
    [step] = shown.steps
    assert (step.name, step.outcome, step.duration_ms) == ("advance_occurrence", "completed", 5.0)
    with pytest.raises(NotFound, match="purged"):
        await saga_actions.history(Runtime(), "purged")
