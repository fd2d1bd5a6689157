"""The app's housekeeping loop: prunes what outlived its use (see service.retention) once at
start and then every interval. Every replica runs it; concurrent deletes of the same rows
are harmless."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from service.retention import Retention, prune
from store.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)


class Housekeeping:
    def __init__(self, interval: timedelta, retention: Retention = Retention()) -> None:
        self._interval = interval
        self._retention = retention
        self._task: asyncio.Task[None] | None = None

    def start(self, uow_factory: UnitOfWorkFactory) -> None:
        self._task = asyncio.create_task(self._run(uow_factory), name="housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, uow_factory: UnitOfWorkFactory) -> None:
        while True:
            try:
                deleted = await prune(uow_factory, self._retention)
                if any(deleted.values()):
                    log.info("housekeeping pruned %s", deleted)
            except Exception:  # the database is away: try again next time
                log.exception("housekeeping failed")
            await asyncio.sleep(self._interval.total_seconds())  # a schedule, not a wait
