"""The saga runs' reconcile: a run whose step crashed before writing its status, or whose
instance an operator changed behind the app's back, is settled from the runtime's own
state (get_workflow_state) once it has been quiet for a while.

Every replica runs it: each settle is conditional (a finished run never moves), so two
replicas settling the same run agree, and a pass reads at most `batch` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from domain.clock import Clock
from service import saga_runs
from store.uow import UnitOfWorkFactory
from workflows.sagas import Sagas

log = logging.getLogger(__name__)


class SagaRunReconciler:
    def __init__(
        self,
        sagas: Sagas,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        *,
        interval: timedelta,
        quiet_for: timedelta,
        batch: int = 100,
    ) -> None:
        self._sagas = sagas
        self._uow_factory = uow_factory
        self._clock = clock
        self._interval = interval
        self._quiet_for = quiet_for
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="saga-run-reconcile")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def once(self) -> int:
        return await saga_runs.reconcile(
            self._uow_factory,
            self._sagas.runtime_status,
            quiet_for=self._quiet_for,
            now=self._clock.now(),
            limit=self._batch,
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval.total_seconds())
            try:
                if changed := await self.once():
                    log.info("saga run reconcile settled %d runs", changed)
            except Exception as exc:  # the database or the sidecar is away: next interval
                log.warning("saga run reconcile failed: %s", exc)
