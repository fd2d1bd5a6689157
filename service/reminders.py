"""Reminder use cases: set, snooze, list upcoming, explain. Fire times live with the task;
the user's ReminderScheduleActor arms them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel

from domain.errors import Conflict, NotFound, ValidationFailed
from domain.events import ReminderDue, TaskUpdated
from domain.reminders import ReminderSpec, dedupe_key, explain
from service.occurrences import operation, recall, remember
from service.schemas import (
    ReminderExplanationOut,
    ReminderIn,
    ReminderOut,
    TaskPublic,
    TaskUpdate,
    UpcomingReminder,
)
from service.task_views import as_utc, zone
from service.tasks import update_task
from service.unit_of_work import Row, UnitOfWork


async def set_reminders(
    uow: UnitOfWork,
    user_id: str,
    task_id: uuid.UUID,
    reminders: list[ReminderIn],
    idempotency_key: str | None = None,
) -> TaskPublic:
    """Replace a task's reminders (at most 10)."""
    patch = TaskUpdate(reminders=reminders)
    return await update_task(uow, user_id, task_id, patch, idempotency_key=idempotency_key)


async def snooze_reminder(
    uow: UnitOfWork,
    user_id: str,
    reminder_id: uuid.UUID,
    *,
    minutes: int | None = None,
    until: datetime | None = None,
    idempotency_key: str | None = None,
) -> ReminderOut:
    """Fire again `minutes` from now, or at `until`."""
    if (minutes is None) == (until is None):
        raise ValidationFailed.field("minutes", "give exactly one of minutes or until")
    if minutes is not None and not 1 <= minutes <= 525_600:
        raise ValidationFailed.field("minutes", "must be 1 to 525600")
    op = operation("snooze", reminder_id, minutes, until.isoformat() if until else None)
    async with uow:
        if replay := await recall(uow, user_id, idempotency_key, op, ReminderOut):
            return replay
        row = await _reminder(uow, user_id, reminder_id, lock=True)
        if row["status"] != "open":
            raise Conflict(f"the task is {row['status']}; its reminders no longer fire")
        now = uow.now()
        fire_at = now + timedelta(minutes=minutes) if minutes else as_utc(until, row["timezone"])
        if fire_at <= now:
            raise ValidationFailed.field("until", "must be in the future")
        await uow.reminders.reschedule(reminder_id, fire_at)
        await uow.reminders.touch_task(row["task_id"], now)
        uow.record(
            TaskUpdated(
                occurred_at=now,
                user_id=user_id,
                task_id=row["task_id"],
                data={"changed": ["reminders"], "snoozed": str(reminder_id)},
            )
        )
        result = ReminderOut(
            id=reminder_id,
            before_minutes=row["before_minutes"],
            at=row["at"],
            fire_at=fire_at,
            state="pending",
        )
        await remember(uow, user_id, idempotency_key, op, result)
        await uow.commit()
        return result


async def list_upcoming_reminders(
    uow: UnitOfWork, user_id: str, *, within: timedelta | None = None, limit: int = 50
) -> list[UpcomingReminder]:
    """Pending reminders of open tasks, soonest first."""
    async with uow.reading():
        until = uow.now() + within if within is not None else None
        rows = await uow.reminders.upcoming(user_id, until=until, limit=limit)
        return [
            UpcomingReminder(
                reminder=ReminderOut(
                    id=r["id"],
                    before_minutes=r["before_minutes"],
                    at=r["at"],
                    fire_at=r["fire_at"],
                    state=r["state"],
                ),
                task_id=r["task_id"],
                task_title=r["title"],
                task_due_at=r["due_at"].astimezone(zone(r["timezone"])) if r["due_at"] else None,
            )
            for r in rows
        ]


async def explain_reminder(
    uow: UnitOfWork, user_id: str, reminder_id: uuid.UUID
) -> ReminderExplanationOut:
    """Anchor, offset, zone, UTC and local fire time, state, and a sentence saying why."""
    async with uow.reading():
        row = await _reminder(uow, user_id, reminder_id)
    status = row["status"]
    state = row["state"] if status == "open" else f"{row['state']} (task {status})"
    spec = ReminderSpec(before_minutes=row["before_minutes"], at=row["at"])
    e = explain(
        spec, due_at=row["due_at"], timezone=row["timezone"], fire_at=row["fire_at"], state=state
    )
    return ReminderExplanationOut(
        reminder_id=reminder_id,
        task_id=row["task_id"],
        anchor=e.anchor,
        due_at=e.due_at,
        offset_minutes=e.offset_minutes,
        timezone=e.timezone,
        fire_at_utc=e.fire_at_utc,
        fire_at_local=e.fire_at_local,
        state=e.state,
        why=e.why,
    )


async def _reminder(
    uow: UnitOfWork, user_id: str, reminder_id: uuid.UUID, lock: bool = False
) -> Row:
    row = await uow.reminders.get(user_id, reminder_id, lock=lock)
    if row is None:
        raise NotFound(f"reminder {reminder_id} not found")
    return row


class PendingReminder(BaseModel):
    reminder_id: uuid.UUID
    task_id: uuid.UUID
    fire_at: AwareDatetime


async def pending(
    uow: UnitOfWork, user_id: str, task_ids: list[uuid.UUID] | None = None
) -> list[PendingReminder]:
    """Pending reminders that can still fire (their task is open): all of the user's, or
    those of `task_ids`."""
    async with uow.reading():
        rows = await uow.reminders.pending(user_id, task_ids)
        return [
            PendingReminder(reminder_id=r["id"], task_id=r["task_id"], fire_at=r["fire_at"])
            for r in rows
        ]


async def users_with_pending(uow: UnitOfWork, *, after: str = "", limit: int = 1000) -> list[str]:
    """The users with a reminder that can still fire, in id order after `after`: one page
    of the periodic reminder reconcile (actors.reconcile)."""
    async with uow.reading():
        return await uow.reminders.users_with_pending(after=after, limit=limit)


async def fire(uow: UnitOfWork, user_id: str, reminder_id: uuid.UUID, fire_at: datetime) -> bool:
    """Mark the reminder sent and record `reminder.due`, once per (reminder id, fire_at).

    The conditional update is the dedupe: a second delivery of the same fire time, a
    snoozed (moved) reminder, or a completed or deleted task all change no row, so nothing
    is published twice and a closed task's reminder never fires."""
    async with uow:
        row = await uow.reminders.mark_sent(user_id, reminder_id, fire_at, uow.now())
        if row is None:
            return False
        uow.record(
            ReminderDue(
                occurred_at=uow.now(),
                user_id=user_id,
                task_id=row["task_id"],
                data={
                    "reminder_id": str(reminder_id),
                    "fire_at": fire_at.isoformat(),
                    "dedupe_key": dedupe_key(str(reminder_id), fire_at),
                    "title": row["title"],
                    "due_at": row["due_at"].isoformat() if row["due_at"] else None,
                    "timezone": row["timezone"],
                    "before_minutes": row["before_minutes"],
                },
            )
        )
        await uow.commit()
        return True
