"""Sets the metrics' gauges for what waits (the outbox's backlog, each consumer's lag) from
the queries the operators' health panel runs (service.ops_health.pressure), every
interval, so the panel and Prometheus read the same numbers."""

from __future__ import annotations

from datetime import timedelta

from service import ops_health
from service.periodic import Periodic
from store.uow import UnitOfWorkFactory
from telemetry.metrics import (
    CONSUMER_LAG,
    CONSUMER_OLDEST_AGE,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
)


def metrics_sampler(uow_factory: UnitOfWorkFactory, interval: timedelta) -> Periodic:
    async def sample() -> None:
        waiting = await ops_health.pressure(uow_factory())
        OUTBOX_BACKLOG.set(waiting.outbox.backlog)
        OUTBOX_OLDEST_AGE.set(waiting.outbox.oldest_age_s or 0.0)
        for c in waiting.consumers:
            CONSUMER_LAG.labels(c.consumer).set(c.behind)
            CONSUMER_OLDEST_AGE.labels(c.consumer).set(c.oldest_behind_s or 0.0)

    return Periodic("metrics sampler", interval, sample)
