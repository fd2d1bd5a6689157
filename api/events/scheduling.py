"""Keeps each user's ReminderScheduleActor in step with their tasks: every task event asks
the actor to re-read that task's pending reminders. Re-reading is idempotent, so a
redelivered event costs a query and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from dapr.actor import ActorProxyFactory

from actors.clients import schedule_actor
from api.events.subscribers import Consumer
from domain.events import Event, ReminderDue
from service.occurrences import BY_SAGA
from store.uow import SqlUnitOfWork


def reminder_scheduler(proxies: Callable[[], ActorProxyFactory]) -> Consumer:
    async def scheduler(uow_factory: Callable[[], SqlUnitOfWork], event: Event) -> bool:
        if isinstance(event, ReminderDue) or event.data.get(BY_SAGA):
            return True  # nothing to schedule, or the saga synced the schedule already
        schedule = schedule_actor(proxies(), event.user_id)
        await schedule.SyncTasks({"task_ids": [str(event.task_id)]})
        return True

    return scheduler
