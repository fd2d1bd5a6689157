"""Runs the operators' bulk actions (service.bulk_actions) in every replica: each claims one
under a lease, handles a batch of its runs, and looks again; idle, it looks once a second.

Each run handled renews the lease (service.bulk_actions.LEASE). Should one runtime call
outlast it, another replica may claim the action and act on the same run: the runtime and
the run's status refuse a second terminate or purge (counted as skipped), so the runs are
safe, but the action's counts may then be off by the runs both handled."""

from __future__ import annotations

from datetime import timedelta

from service import bulk_actions
from service.periodic import Periodic
from store.uow import UnitOfWorkFactory
from workflows.sagas import Sagas

IDLE = timedelta(seconds=1)


class BulkActionRunner:
    def __init__(self, sagas: Sagas, uow_factory: UnitOfWorkFactory) -> None:
        self._sagas = sagas
        self._uow_factory = uow_factory
        self._loop = Periodic("bulk actions", IDLE, self._drain)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _drain(self) -> None:
        """Batch after batch while there is work; then the loop waits IDLE."""
        busy = True
        while busy:
            busy = await bulk_actions.run_one(self._uow_factory, self._sagas)
