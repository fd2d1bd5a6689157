"""ReminderScheduleActor (id = user id): the user's pending reminders and one durable actor
reminder armed for the earliest of them, re-armed after every fire.

PostgreSQL (through the service layer) is the source of truth; the actor's state is the
schedule derived from it; the actor runtime saves its state changes at the end of each
turn, so a failed turn leaves none. A fire marks the reminder sent and records `reminder.due` in one
transaction, conditional on (reminder id, fire_at) still being pending, so a duplicate
delivery, a snooze or a closed task can never make a reminder go out twice or at all.

The durable reminder lives in daprd's Scheduler, apart from all of that, and can be lost
with it; `sync_all` re-registers it unconditionally, and the periodic reconcile
(`actors.reconcile`) calls `sync_all` for every user with pending reminders.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from dapr.actor import Actor, Remindable
from dapr.actor.id import ActorId
from dapr.actor.runtime.context import ActorRuntimeContext

from actors.deps import ActorDeps, instant
from actors.reminder_schedule_interface import (
    ReminderScheduleActorInterface,
    Schedule,
    Synced,
    SyncTasks,
)
from service import reminders as reminders_svc
from telemetry.metrics import REMINDER_LATENESS

PENDING = "pending"
ARMED = "armed_at"
DUE = "due"
RETRY = "retry-publish"
log = logging.getLogger(__name__)


class ReminderScheduleActor(Actor, ReminderScheduleActorInterface, Remindable):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self.deps = deps

    @property
    def user_id(self) -> str:
        return self.id.id

    async def _pending(self) -> dict[str, dict]:
        found, value = await self._state_manager.try_get_state(PENDING)
        if not found:
            return await self._reload_all()
        return dict(value)

    async def _reload_all(self) -> dict[str, dict]:
        rows = await reminders_svc.pending(self.deps.uow_factory(), self.user_id)
        pending = {str(r.reminder_id): _entry(r) for r in rows}
        await self._state_manager.set_state(PENDING, pending)
        return pending

    async def sync_tasks(self, data: dict) -> dict:
        """Re-read the given tasks' pending reminders (after create, update, snooze,
        complete or delete) and re-arm."""
        task_ids = list(SyncTasks.model_validate(data).task_ids)
        found, stored = await self._state_manager.try_get_state(PENDING)
        if not found:
            pending = await self._reload_all()  # a fresh schedule already has these tasks
        else:
            wanted = {str(t) for t in task_ids}
            pending = {k: v for k, v in dict(stored).items() if v["task_id"] not in wanted}
            rows = await reminders_svc.pending(self.deps.uow_factory(), self.user_id, task_ids)
            pending.update({str(r.reminder_id): _entry(r) for r in rows})
            await self._state_manager.set_state(PENDING, pending)
        await self._arm(pending)
        return Synced(pending=len(pending)).model_dump()

    async def describe(self) -> dict:
        """The schedule as stored: no reload, no state written (a read-only look)."""
        found, stored = await self._state_manager.try_get_state(PENDING)
        _, armed = await self._state_manager.try_get_state(ARMED)
        pending = sorted(dict(stored).values(), key=_fire_at) if found else []
        return Schedule(
            loaded=found, pending=pending, armed_at=str(armed) if armed else None
        ).model_dump(mode="json")

    async def sync_all(self) -> dict:
        """Reload the whole schedule from PostgreSQL and register its reminder even when
        `armed_at` says it is there: the Scheduler may have lost it, which nothing here
        can see."""
        pending = await self._reload_all()
        await self._arm(pending, force=True)
        return Synced(pending=len(pending)).model_dump()

    async def _arm(
        self, pending: dict[str, dict], *, force: bool = False, after: str | None = None
    ) -> None:
        """One durable reminder at the earliest fire time (or none when nothing is pending).

        `force` registers it even when `armed_at` says it is armed already. `after` (a
        stamp) leaves out what fell due by then: a reminder armed in the past fires again
        at once, so re-arming for an entry whose recording just failed would loop as fast
        as the failures come; those wait for the retry timer instead."""
        _, armed = await self._state_manager.try_get_state(ARMED)
        # stamps compare as strings, so a schedule of thousands parses one time, not all
        times = (e["fire_at"] for e in pending.values())
        first = min((t for t in times if after is None or t > after), default=None)
        earliest = instant(first) if first is not None else None
        if not force and earliest is not None and armed is not None and earliest == instant(armed):
            return
        if earliest is None:
            if armed is not None:
                await self.unregister_reminder(DUE)
                await self._state_manager.try_remove_state(ARMED)
        else:
            wait = earliest - self.deps.clock.now()
            # no period: a one-off reminder, re-armed after each fire
            await self.register_reminder(DUE, b"", due_time=max(wait, timedelta(0)))
            await self._state_manager.set_state(ARMED, earliest.isoformat())

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        if name in (DUE, RETRY):
            await self._fire_due()

    async def _fire_due(self) -> None:
        """Record every reminder that is due. One that cannot be recorded (the database is
        away) stays pending for the retry timer; so does the whole fire when the schedule
        itself cannot be read, armed or saved."""
        try:
            failed = await self._record_due()
        except Exception:
            await self._retry_later()
            raise
        if failed:
            await self._retry_later()

    async def _record_due(self) -> bool:
        """Record what is due and re-arm for what is not; True when a recording failed."""
        pending = await self._pending()
        now = stamp(self.deps.clock.now())
        due = sorted((e for e in pending.values() if e["fire_at"] <= now), key=_fire_at)
        failed = False
        for entry in due:
            fire_at = instant(entry["fire_at"])
            try:
                recorded = await reminders_svc.fire(
                    self.deps.uow_factory(), self.user_id, uuid.UUID(entry["reminder_id"]), fire_at
                )
                if recorded:  # not a second delivery, nor a snoozed or closed one
                    late = (self.deps.clock.now() - fire_at).total_seconds()
                    REMINDER_LATENESS.observe(max(late, 0.0))
            except Exception:  # the database is away: keep it pending, retry on a timer
                log.exception("reminder %s could not be recorded; will retry", entry)
                failed = True
                continue
            pending.pop(entry["reminder_id"], None)
        await self._state_manager.set_state(PENDING, pending)
        await self._state_manager.try_remove_state(ARMED)  # the reminder that fired is spent
        await self._arm(pending, after=now)
        return failed

    async def _retry_later(self) -> None:
        """One more try in `retry_delay`, on a timer of period zero, which daprd reads as
        fire once (pkg/actors/api/period.go, HasRepeats). Each failed try registers the
        next, under the same name, so an outage costs one try per `retry_delay`. A timer
        dies with the actor; the periodic reconcile re-arms what it leaves behind."""
        await self.register_timer(RETRY, self._retry, None, self.deps.retry_delay, timedelta(0))

    async def _retry(self, _: object) -> None:
        await self._fire_due()


def stamp(moment: datetime) -> str:
    """A fire time as kept in the schedule: UTC, always with microseconds, so that the
    order of the strings is the order of the times."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _fire_at(entry: dict) -> str:
    return entry["fire_at"]


def _entry(r: reminders_svc.PendingReminder) -> dict:
    return {
        "reminder_id": str(r.reminder_id),
        "task_id": str(r.task_id),
        "fire_at": stamp(r.fire_at),
    }
