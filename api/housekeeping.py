"""The app's housekeeping loop: prunes what outlived its use (see service.retention) once at
start and then every interval. Every replica runs it: each batch locks the rows it picks
and skips those another holds (store.housekeeping_repo), so two replicas split the work
and delete each row once."""

from __future__ import annotations

import logging
from datetime import timedelta

from service.periodic import Periodic
from service.retention import Retention, prune
from store.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)


class Housekeeping:
    def __init__(self, interval: timedelta, retention: Retention = Retention()) -> None:
        self._interval = interval
        self._retention = retention
        self._loop: Periodic | None = None

    def start(self, uow_factory: UnitOfWorkFactory) -> None:
        async def step() -> None:
            deleted = await prune(uow_factory, self._retention)
            if any(deleted.values()):
                log.info("housekeeping pruned %s", deleted)

        self._loop = Periodic("housekeeping", self._interval, step)
        self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
