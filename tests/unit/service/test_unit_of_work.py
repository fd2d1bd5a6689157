"""The SQL and in-memory units of work offer what service.unit_of_work promises, method
for method, so a use case tested on the fake runs the same calls on PostgreSQL."""

from __future__ import annotations

import inspect
from typing import get_type_hints

import pytest

from domain.clock import SystemClock
from service import unit_of_work as ports
from store import (
    audit_repo,
    bulk_actions_repo,
    dead_letters_repo,
    housekeeping_repo,
    idempotency_repo,
    notifications_repo,
    operator_log_repo,
    ops_health_repo,
    outbox,
    reminders_repo,
    saga_runs_repo,
    series_repo,
    tags_repo,
    tasks_repo,
    webhooks_repo,
)
from store.uow import SqlUnitOfWork
from tests.fakes import uow as fakes

REPOSITORIES = {
    "tasks": (ports.Tasks, tasks_repo.SqlTasks, fakes.FakeTasks),
    "idempotency": (
        ports.Idempotency,
        idempotency_repo.SqlIdempotency,
        fakes.FakeIdempotency,
    ),
    "inbox": (ports.Inbox, outbox.SqlInbox, fakes.FakeInbox),
    "outbox": (ports.Outbox, outbox.SqlOutbox, fakes.FakeOutbox),
    "audit": (ports.AuditLog, audit_repo.SqlAuditLog, fakes.FakeAuditLog),
    "notifications": (
        ports.Notifications,
        notifications_repo.SqlNotifications,
        fakes.FakeNotifications,
    ),
    "webhooks": (ports.Webhooks, webhooks_repo.SqlWebhooks, fakes.FakeWebhooks),
    "tags": (ports.Tags, tags_repo.SqlTags, fakes.FakeTags),
    "reminders": (ports.Reminders, reminders_repo.SqlReminders, fakes.FakeReminders),
    "series": (ports.SeriesStore, series_repo.SqlSeries, fakes.FakeSeries),
    "saga_runs": (ports.SagaRuns, saga_runs_repo.SqlSagaRuns, fakes.FakeSagaRuns),
    "bulk_actions": (ports.BulkActions, bulk_actions_repo.SqlBulkActions, fakes.FakeBulkActions),
    "ops_health": (ports.OpsHealth, ops_health_repo.SqlOpsHealth, fakes.FakeOpsHealth),
    "operator_log": (ports.OperatorLog, operator_log_repo.SqlOperatorLog, fakes.FakeOperatorLog),
    "dead_letters": (
        ports.DeadLetters,
        dead_letters_repo.SqlDeadLetters,
        fakes.FakeDeadLetters,
    ),
    "housekeeping": (
        ports.Housekeeping,
        housekeeping_repo.SqlHousekeeping,
        fakes.FakeHousekeeping,
    ),
}


def _methods(protocol: type) -> list[str]:
    return [
        name
        for name, member in vars(protocol).items()
        if inspect.isfunction(member) and (not name.startswith("_") or name.startswith("__a"))
    ]


def _shape(function: object) -> list[tuple[str, inspect._ParameterKind, bool]]:
    return [
        (p.name, p.kind, p.default is inspect.Parameter.empty)
        for p in inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    ]


def _called_shape(cls: type, name: str) -> list[tuple[str, inspect._ParameterKind, bool]]:
    """The parameters a caller passes: without `self`, a staticmethod taking none."""
    shape = _shape(getattr(cls, name))
    return shape if isinstance(inspect.getattr_static(cls, name), staticmethod) else shape[1:]


def test_the_unit_of_work_names_every_repository() -> None:
    declared = set(get_type_hints(ports.UnitOfWork)) - {"clock"}
    assert declared == set(REPOSITORIES)


@pytest.mark.parametrize("attribute", sorted(REPOSITORIES))
def test_both_repositories_take_what_the_protocol_declares(attribute: str) -> None:
    protocol, sql, fake = REPOSITORIES[attribute]
    for name in _methods(protocol):
        expected = _called_shape(protocol, name)
        # async where the protocol is: Tasks.sort_key and decode_key are plain functions
        is_async = inspect.iscoroutinefunction(getattr(protocol, name))
        for implementation in (sql, fake):
            where = f"{implementation.__name__}.{name}"
            assert _called_shape(implementation, name) == expected, where
            assert inspect.iscoroutinefunction(getattr(implementation, name)) == is_async, where


@pytest.mark.parametrize("implementation", [SqlUnitOfWork, fakes.FakeUnitOfWork])
def test_both_units_of_work_take_what_the_protocol_declares(implementation: type) -> None:
    for name in _methods(ports.UnitOfWork):
        expected = _shape(getattr(ports.UnitOfWork, name))
        assert _shape(getattr(implementation, name)) == expected, name


class _Connection:
    def in_transaction(self) -> bool:
        return False

    async def close(self) -> None:
        self.closed = True


class _Engine:
    def __init__(self) -> None:
        self.conn = _Connection()

    async def connect(self) -> _Connection:
        return self.conn


async def test_the_sql_unit_of_work_binds_every_repository_to_its_connection() -> None:
    engine = _Engine()
    async with SqlUnitOfWork(engine, clock=SystemClock()) as uow:  # type: ignore[arg-type]
        for attribute, (_, sql, _) in REPOSITORIES.items():
            repository = getattr(uow, attribute)
            assert isinstance(repository, sql), attribute
            assert repository._conn is engine.conn, attribute
    assert engine.conn.closed
