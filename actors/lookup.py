"""service.ops_schedules.ScheduleLookup over the actors' Describe methods."""

from __future__ import annotations

import uuid
from typing import Any

from dapr.actor import ActorProxyFactory

from actors.clients import schedule_actor, series_actor
from domain.errors import DependencyUnavailable


class ActorLookup:
    def __init__(self, proxies: ActorProxyFactory) -> None:
        self._proxies = proxies

    async def series(self, series_id: uuid.UUID) -> dict[str, Any]:
        return await self._ask(series_actor(self._proxies, str(series_id)).Describe())

    async def schedule(self, user_id: str) -> dict[str, Any]:
        return await self._ask(schedule_actor(self._proxies, user_id).Describe())

    @staticmethod
    async def _ask(call: Any) -> dict[str, Any]:
        try:
            return await call
        except Exception as exc:  # the sidecar or the actor's placement is away
            raise DependencyUnavailable(f"the actor did not answer: {exc}") from exc
