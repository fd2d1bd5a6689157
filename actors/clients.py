"""Typed proxies to Tickler's actors, for callers in the app (workflow activities and
event consumers). Clients import only this module and the actor interfaces."""

from __future__ import annotations

from dapr.actor import ActorId, ActorProxy, ActorProxyFactory

from actors.recurring_task_interface import RecurringTaskActorInterface
from actors.reminder_schedule_interface import ReminderScheduleActorInterface


def series_actor(proxies: ActorProxyFactory, series_id: str) -> ActorProxy:
    return ActorProxy.create(
        "RecurringTaskActor", ActorId(series_id), RecurringTaskActorInterface, proxies
    )


def schedule_actor(proxies: ActorProxyFactory, user_id: str) -> ActorProxy:
    return ActorProxy.create(
        "ReminderScheduleActor", ActorId(user_id), ReminderScheduleActorInterface, proxies
    )
