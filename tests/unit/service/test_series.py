"""A series' definition as its actor reads it, and the changes the actor makes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from domain.errors import NotFound, ValidationFailed
from service import series
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW


def _series(uow: FakeUnitOfWork, user_id: str = "ann") -> uuid.UUID:
    series_id = uuid.uuid4()
    uow.tables.series[series_id] = {
        "id": series_id,
        "user_id": user_id,
        "rrule": "FREQ=DAILY",
        "timezone": "UTC",
        "dtstart": datetime(2027, 1, 4, 9, 0),
        "mode": "schedule",
        "catch_up": "skip_missed",
        "exdates": [],
        "state": "active",
    }
    return series_id


async def test_the_definition_names_the_latest_open_occurrence(uow: FakeUnitOfWork) -> None:
    series_id = _series(uow)
    uow.add_task("ann", series_id=series_id, occurrence_index=0, status="completed")
    latest = uow.add_task("ann", series_id=series_id, occurrence_index=1, due_at=NOW)

    d = await series.definition(uow, series_id)

    assert (d.open_task_id, d.open_index, d.open_due_at, d.generated) == (latest, 1, NOW, 2)
    assert d.rule().rrule.startswith("FREQ=DAILY")


async def test_an_unknown_series_is_not_found(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound):
        await series.definition(uow, uuid.uuid4())


async def test_a_state_outside_the_three_is_refused(uow: FakeUnitOfWork) -> None:
    series_id = _series(uow)
    with pytest.raises(ValidationFailed):
        await series.set_state(uow, "ann", series_id, "archived")
    await series.set_state(uow, "ann", series_id, "paused")
    await series.set_state(uow, "bob", series_id, "ended")
    assert uow.tables.series[series_id]["state"] == "paused"


async def test_an_exdate_is_added_once(uow: FakeUnitOfWork) -> None:
    series_id = _series(uow)
    skipped = datetime(2027, 1, 6, 9, 0)
    await series.add_exdate(uow, "ann", series_id, skipped)
    await series.add_exdate(uow, "ann", series_id, skipped)
    await series.add_exdate(uow, "ann", series_id, skipped + timedelta(days=1))
    d = await series.definition(uow, series_id)
    assert d.exdates == [skipped, skipped + timedelta(days=1)]
