"""Use cases over the in-memory unit of work: no PostgreSQL, no sidecar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.clocks import FrozenClock
from tests.fakes.uow import FakeUnitOfWork

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def uow(clock: FrozenClock) -> FakeUnitOfWork:
    return FakeUnitOfWork(clock)
