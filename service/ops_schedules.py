"""The operators' read-only look at the actors' schedules: a series as its RecurringTaskActor
holds it (rule, open occurrence, count, EXDATEs, state), and a user's ReminderScheduleActor
(pending reminders, armed time)."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from service import series as series_svc
from service.unit_of_work import UnitOfWork


class ScheduleLookup(Protocol):
    """The actors' Describe methods (actors.lookup)."""

    async def series(self, series_id: uuid.UUID) -> dict[str, Any]:
        """RecurringTaskActor.Describe."""

    async def schedule(self, user_id: str) -> dict[str, Any]:
        """ReminderScheduleActor.Describe: changes nothing."""


async def describe_series(
    uow: UnitOfWork, lookup: ScheduleLookup, series_id: uuid.UUID
) -> dict[str, Any]:
    """NotFound for a series that does not exist, before any actor is activated for it."""
    await series_svc.definition(uow, series_id)
    return await lookup.series(series_id)


async def describe_schedule(lookup: ScheduleLookup, user_id: str) -> dict[str, Any]:
    return await lookup.schedule(user_id)
