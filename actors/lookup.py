"""The app's calls to its actors' own methods: service.ops_schedules.ScheduleLookup over
their Describe methods, and service.series_control.SeriesControl over RecurringTaskActor's
control methods. An actor that does not answer is DependencyUnavailable (503)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from dapr.actor import ActorProxyFactory

from actors.clients import schedule_actor, series_actor
from actors.recurring_task_interface import SkipInstance
from domain.errors import DependencyUnavailable
from service.series import SeriesDefinition

# the actor's method per state it sets
SETS_STATE = {"paused": "Pause", "active": "Resume", "ended": "End"}


async def _ask(call: Any) -> dict[str, Any]:
    try:
        return await call
    except Exception as exc:  # the sidecar or the actor's placement is away
        raise DependencyUnavailable(f"the actor did not answer: {exc}") from exc


class ActorLookup:
    def __init__(self, proxies: ActorProxyFactory) -> None:
        self._proxies = proxies

    async def series(self, series_id: uuid.UUID) -> dict[str, Any]:
        return await _ask(series_actor(self._proxies, str(series_id)).Describe())

    async def schedule(self, user_id: str) -> dict[str, Any]:
        return await _ask(schedule_actor(self._proxies, user_id).Describe())


class ActorSeriesControl:
    def __init__(self, proxies: ActorProxyFactory) -> None:
        self._proxies = proxies

    def _actor(self, series_id: uuid.UUID) -> Any:
        return series_actor(self._proxies, str(series_id))

    async def describe(self, series_id: uuid.UUID) -> SeriesDefinition:
        return SeriesDefinition.model_validate(await _ask(self._actor(series_id).Describe()))

    async def set_state(self, series_id: uuid.UUID, state: str) -> SeriesDefinition:
        method = getattr(self._actor(series_id), SETS_STATE[state])
        return SeriesDefinition.model_validate(await _ask(method()))

    async def skip(self, series_id: uuid.UUID, local: datetime) -> SeriesDefinition:
        request = SkipInstance(local=local).model_dump(mode="json")
        answer = await _ask(self._actor(series_id).SkipInstance(request))
        return SeriesDefinition.model_validate(answer)
