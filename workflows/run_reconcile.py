"""The saga runs' reconcile: a run whose step crashed before writing its status, or whose
instance an operator changed behind the app's back, is settled from the runtime's own
state (get_workflow_state) once it has been quiet for a while.

Every replica runs it: each settle is conditional (a finished run never moves), so two
replicas settling the same run agree, and a pass reads at most `batch` runs.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from domain.clock import Clock
from service import saga_runs
from service.periodic import Periodic
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
        self._quiet_for = quiet_for
        self._batch = batch
        self._loop = Periodic("saga run reconcile", interval, self._pass, wait_first=True)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def once(self) -> int:
        return await saga_runs.reconcile(
            self._uow_factory,
            self._sagas.runtime_status,
            quiet_for=self._quiet_for,
            now=self._clock.now(),
            limit=self._batch,
        )

    async def _pass(self) -> None:
        if changed := await self.once():
            log.info("saga run reconcile settled %d runs", changed)
