"""Keeps each user's ReminderScheduleActor in step with their tasks: every task event asks
the actor to re-read that task's pending reminders. The one mechanism for it: the completion
saga's changes reach the schedule this way too. Re-reading is idempotent, so a
redelivered event costs a query and changes nothing."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from dapr.actor import ActorProxyFactory

from actors.clients import schedule_actor
from actors.reminder_schedule_interface import SyncTasks
from domain.events import Event, ReminderDue
from messaging.consumers import Consumer
from store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)


def reminder_scheduler(proxies: Callable[[], ActorProxyFactory]) -> Consumer:
    async def scheduler(
        uow_factory: Callable[[], SqlUnitOfWork], events: list[Event]
    ) -> set[uuid.UUID]:
        """One SyncTasks per user in the batch, for all of that user's tasks in it."""
        by_user: dict[str, list[Event]] = {}
        for event in events:
            if not isinstance(event, ReminderDue):  # a fire changes no schedule
                by_user.setdefault(event.user_id, []).append(event)
        done = {e.event_id for e in events if isinstance(e, ReminderDue)}

        async def sync(user_id: str, theirs: list[Event]) -> None:
            task_ids = tuple(dict.fromkeys(e.task_id for e in theirs))
            schedule = schedule_actor(proxies(), user_id)
            try:
                await schedule.SyncTasks(SyncTasks(task_ids=task_ids).model_dump(mode="json"))
            except Exception:  # the sidecar or the actor failed: Dapr redelivers these
                log.exception("syncing the reminder schedule of %d task(s) failed", len(task_ids))
                return
            done.update(e.event_id for e in theirs)

        await asyncio.gather(*(sync(u, theirs) for u, theirs in by_user.items()))
        return done

    return scheduler
