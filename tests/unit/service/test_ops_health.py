"""The health panel's numbers: ages from the clock, every minute of the hour present."""

from __future__ import annotations

from datetime import timedelta

from service import ops_health
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.service.conftest import NOW


async def test_the_panel_from_its_queries(uow: FakeUnitOfWork) -> None:
    minute = NOW.replace(second=0, microsecond=0) - timedelta(minutes=3)
    uow.ops_health.figures.update(
        outbox_backlog=(4, NOW - timedelta(seconds=90)),
        consumers={
            "notifier": {
                "last_at": NOW - timedelta(seconds=5),
                "recent": 7,
                "behind": 2,
                "oldest_behind": NOW - timedelta(seconds=12),
            }
        },
        saga_minutes=[{"minute": minute, "started": 3, "completed": 2, "failed": 1}],
        reminder_lateness=(12, 0.2, 1.5),
    )
    shown = await ops_health.health(uow, sidecar_reachable=True)
    assert (shown.outbox.backlog, shown.outbox.oldest_age_s) == (4, 90.0)
    by_name = {c.consumer: c for c in shown.consumers}
    assert set(by_name) == {"audit", "notifier", "live"}  # every inbox, idle ones too
    notifier = by_name["notifier"]
    assert (notifier.idle_s, notifier.handled_last_hour) == (5.0, 7)
    assert (notifier.behind, notifier.oldest_behind_s) == (2, 12.0)
    assert (by_name["live"].behind, by_name["live"].oldest_behind_s) == (0, None)
    assert len(shown.sagas) == 60 and shown.sagas[-1].minute == NOW.replace(second=0, microsecond=0)
    assert [(m.started, m.completed, m.failed) for m in shown.sagas if m.minute == minute] == [
        (3, 2, 1)
    ]
    assert sum(m.started for m in shown.sagas) == 3
    assert (shown.reminders.fired_last_hour, shown.reminders.lateness_p99_s) == (12, 1.5)
    assert shown.sidecar_reachable is True


async def test_an_empty_outbox_has_no_oldest_age(uow: FakeUnitOfWork) -> None:
    shown = await ops_health.health(uow, sidecar_reachable=None)
    assert (shown.outbox.backlog, shown.outbox.oldest_age_s) == (0, None)
