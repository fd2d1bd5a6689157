"""Typed proxies to Tickler's actors, for callers in the app (workflow activities and
event consumers). Clients import only this module and the actor interfaces. Every call is
counted and timed (telemetry.metrics: ACTOR_CALLS, ACTOR_DURATION), and is a client span
whose context goes to the sidecar as `traceparent` (actors.dapr_http)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from dapr.actor import ActorId, ActorProxy, ActorProxyFactory
from opentelemetry.trace import SpanKind

from actors.recurring_task_interface import RecurringTaskActorInterface
from actors.reminder_schedule_interface import ReminderScheduleActorInterface
from telemetry.metrics import ACTOR_CALLS, ACTOR_DURATION
from telemetry.tracing import TRACER

SERIES = "RecurringTaskActor"
SCHEDULE = "ReminderScheduleActor"


class MeteredProxy:
    """An ActorProxy whose method calls (`proxy.NextAfter(...)`) are counted and timed; the
    method names are the interface's, so the labels stay bounded."""

    def __init__(self, actor_type: str, proxy: ActorProxy) -> None:
        self._actor_type, self._proxy = actor_type, proxy

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        call = getattr(self._proxy, method)

        async def metered(*args: Any, **kwargs: Any) -> Any:
            started, outcome = time.perf_counter(), "error"
            try:
                with TRACER.start_as_current_span(
                    f"{self._actor_type}.{method}", kind=SpanKind.CLIENT
                ):
                    result = await call(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                ACTOR_CALLS.labels(self._actor_type, method, outcome).inc()
                ACTOR_DURATION.labels(self._actor_type, method).observe(
                    time.perf_counter() - started
                )

        return metered


def series_actor(proxies: ActorProxyFactory, series_id: str) -> Any:
    proxy = ActorProxy.create(SERIES, ActorId(series_id), RecurringTaskActorInterface, proxies)
    return MeteredProxy(SERIES, proxy)


def schedule_actor(proxies: ActorProxyFactory, user_id: str) -> Any:
    proxy = ActorProxy.create(SCHEDULE, ActorId(user_id), ReminderScheduleActorInterface, proxies)
    return MeteredProxy(SCHEDULE, proxy)
