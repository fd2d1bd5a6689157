"""Runs the operators' bulk actions (service.bulk_actions) in every replica: each claims one
under a lease, handles a batch of its runs, and looks again; idle, it looks once a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from service import bulk_actions
from store.uow import UnitOfWorkFactory
from workflows.sagas import Sagas

log = logging.getLogger(__name__)
IDLE_S = 1.0


class BulkActionRunner:
    def __init__(self, sagas: Sagas, uow_factory: UnitOfWorkFactory) -> None:
        self._sagas = sagas
        self._uow_factory = uow_factory
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bulk-actions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                busy = await bulk_actions.run_one(self._uow_factory, self._sagas)
            except Exception as exc:  # the database is away: try again after a pause
                log.warning("bulk actions paused: %s", exc)
                busy = False
            if not busy:
                await asyncio.sleep(IDLE_S)
