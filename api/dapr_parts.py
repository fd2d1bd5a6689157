"""The parts of the app that need a Dapr sidecar: actors and the completion saga.

They start only when the sidecar told the app where it is (DAPR_HTTP_PORT); the same code
runs against daprd and our dev sidecar.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

from dapr.ext.fastapi import DaprActor
from fastapi import FastAPI

from actors.dapr_http import KeepAliveActorClient, KeepAliveProxyFactory
from actors.deps import ActorDeps
from actors.lookup import ActorLookup, ActorSeriesControl
from actors.reconcile import ReminderReconciler
from actors.recurring_task import RecurringTaskActor
from actors.reminder_schedule import ReminderScheduleActor
from actors.serializer import SERIALIZER
from api.settings import Settings
from domain.clock import Clock
from domain.tasks import Status
from store.uow import SqlUnitOfWork
from workflows.bulk_runner import BulkActionRunner
from workflows.run_reconcile import SagaRunReconciler
from workflows.sagas import Sagas


class DaprParts:
    def __init__(self, app: FastAPI, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.actors = DaprActor(app)  # adds /dapr/config and the actor callback routes
        self.sagas: Sagas | None = None
        self.proxies: KeepAliveProxyFactory | None = None
        self.reconciler: ReminderReconciler | None = None
        self.run_reconciler: SagaRunReconciler | None = None
        self.bulk_runner: BulkActionRunner | None = None
        self.lookup: ActorLookup | None = None
        self.series_control: ActorSeriesControl | None = None

    async def start(self, uow_factory: Callable[[], SqlUnitOfWork]) -> Sagas:
        # the SDK's HTTP clients wait for the sidecar when built: build them off the loop
        self.proxies = await asyncio.to_thread(KeepAliveProxyFactory)
        actor_client = await asyncio.to_thread(KeepAliveActorClient)
        self.sagas = Sagas(self.settings.dapr_grpc_port, uow_factory, self.proxies)
        sagas = self.sagas

        async def start_skip(user_id: str, task_id: str) -> None:
            await sagas.start(user_id, uuid.UUID(task_id), Status.SKIPPED)

        deps = ActorDeps(
            uow_factory=uow_factory,
            clock=self.clock,
            start_skip=start_skip,
            retry_delay=timedelta(seconds=self.settings.reminder_retry_delay_s),
        )
        for actor in (RecurringTaskActor, ReminderScheduleActor):
            await self.actors.register_actor(
                actor,
                actor_factory=lambda ctx, actor_id, cls=actor: cls(ctx, actor_id, deps),
                actor_client=actor_client,
                message_serializer=SERIALIZER,
                state_serializer=SERIALIZER,
            )
        await sagas.start_worker()
        self.reconciler = ReminderReconciler(
            timedelta(seconds=self.settings.reminder_reconcile_interval_s),
            self.settings.database_url,
            uow_factory,
            self.proxies,
            concurrency=self.settings.reminder_reconcile_concurrency,
        )
        self.reconciler.start()
        self.run_reconciler = SagaRunReconciler(
            sagas,
            uow_factory,
            self.clock,
            interval=timedelta(seconds=self.settings.saga_run_reconcile_interval_s),
            quiet_for=timedelta(seconds=self.settings.saga_run_quiet_s),
        )
        self.run_reconciler.start()
        self.lookup = ActorLookup(self.proxies)
        self.series_control = ActorSeriesControl(self.proxies)
        self.bulk_runner = BulkActionRunner(sagas, uow_factory)
        self.bulk_runner.start()
        return sagas

    async def stop(self) -> None:
        if self.bulk_runner is not None:
            await self.bulk_runner.stop()
        if self.run_reconciler is not None:
            await self.run_reconciler.stop()
        if self.reconciler is not None:
            await self.reconciler.stop()
        if self.sagas is not None:
            await self.sagas.stop()
