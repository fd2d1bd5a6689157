"""Reminder use cases: set, snooze, list upcoming, explain. Fire times live with the task;
the user's ReminderScheduleActor arms them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel
from sqlalchemy import text

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
from store.uow import SqlUnitOfWork

_REMINDER = (
    "SELECT r.id, r.task_id, r.before_minutes, r.at, r.fire_at, r.state, t.title, t.due_at, "
    "t.timezone, t.status, t.version FROM reminders r JOIN tasks t ON t.id = r.task_id "
    "WHERE r.user_id = :u"
)


async def set_reminders(
    uow: SqlUnitOfWork,
    user_id: str,
    task_id: uuid.UUID,
    reminders: list[ReminderIn],
    idempotency_key: str | None = None,
) -> TaskPublic:
    """Replace a task's reminders (at most 10)."""
    patch = TaskUpdate(reminders=reminders)
    return await update_task(uow, user_id, task_id, patch, idempotency_key=idempotency_key)


async def snooze_reminder(
    uow: SqlUnitOfWork,
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
        if row.status != "open":
            raise Conflict(f"the task is {row.status}; its reminders no longer fire")
        now = uow.now()
        fire_at = now + timedelta(minutes=minutes) if minutes else as_utc(until, row.timezone)
        if fire_at <= now:
            raise ValidationFailed.field("until", "must be in the future")
        await uow.conn.execute(
            text("UPDATE reminders SET fire_at = :f, state = 'pending' WHERE id = :id"),
            {"f": fire_at, "id": reminder_id},
        )
        await uow.conn.execute(
            text("UPDATE tasks SET version = version + 1, updated_at = :now WHERE id = :t"),
            {"now": now, "t": row.task_id},
        )
        uow.record(
            TaskUpdated(
                occurred_at=now,
                user_id=user_id,
                task_id=row.task_id,
                data={"changed": ["reminders"], "snoozed": str(reminder_id)},
            )
        )
        result = ReminderOut(
            id=reminder_id,
            before_minutes=row.before_minutes,
            at=row.at,
            fire_at=fire_at,
            state="pending",
        )
        await remember(uow, user_id, idempotency_key, op, result)
        await uow.commit()
        return result


async def list_upcoming_reminders(
    uow: SqlUnitOfWork, user_id: str, *, within: timedelta | None = None, limit: int = 50
) -> list[UpcomingReminder]:
    """Pending reminders of open tasks, soonest first."""
    sql = _REMINDER + " AND r.state = 'pending' AND t.status = 'open'"
    params: dict = {"u": user_id, "limit": limit}
    async with uow:
        if within is not None:
            sql += " AND r.fire_at <= :until"
            params["until"] = uow.now() + within
        rows = await uow.conn.execute(text(sql + " ORDER BY r.fire_at LIMIT :limit"), params)
        return [
            UpcomingReminder(
                reminder=ReminderOut(
                    id=r.id,
                    before_minutes=r.before_minutes,
                    at=r.at,
                    fire_at=r.fire_at,
                    state=r.state,
                ),
                task_id=r.task_id,
                task_title=r.title,
                task_due_at=r.due_at.astimezone(zone(r.timezone)) if r.due_at else None,
            )
            for r in rows
        ]


async def explain_reminder(
    uow: SqlUnitOfWork, user_id: str, reminder_id: uuid.UUID
) -> ReminderExplanationOut:
    """Anchor, offset, zone, UTC and local fire time, state, and a sentence saying why."""
    async with uow:
        row = await _reminder(uow, user_id, reminder_id)
    state = row.state if row.status == "open" else f"{row.state} (task {row.status})"
    spec = ReminderSpec(before_minutes=row.before_minutes, at=row.at)
    e = explain(spec, due_at=row.due_at, timezone=row.timezone, fire_at=row.fire_at, state=state)
    return ReminderExplanationOut(
        reminder_id=reminder_id,
        task_id=row.task_id,
        anchor=e.anchor,
        due_at=e.due_at,
        offset_minutes=e.offset_minutes,
        timezone=e.timezone,
        fire_at_utc=e.fire_at_utc,
        fire_at_local=e.fire_at_local,
        state=e.state,
        why=e.why,
    )


async def _reminder(uow: SqlUnitOfWork, user_id: str, reminder_id: uuid.UUID, lock: bool = False):
    sql = _REMINDER + " AND r.id = :id" + (" FOR UPDATE OF r" if lock else "")
    row = (await uow.conn.execute(text(sql), {"u": user_id, "id": reminder_id})).first()
    if row is None:
        raise NotFound(f"reminder {reminder_id} not found")
    return row


class PendingReminder(BaseModel):
    reminder_id: uuid.UUID
    task_id: uuid.UUID
    fire_at: AwareDatetime


async def pending(
    uow: SqlUnitOfWork, user_id: str, task_ids: list[uuid.UUID] | None = None
) -> list[PendingReminder]:
    """Pending reminders that can still fire (their task is open): all of the user's, or
    those of `task_ids`."""
    sql = (
        "SELECT r.id, r.task_id, r.fire_at FROM reminders r JOIN tasks t ON t.id = r.task_id "
        "WHERE r.user_id = :u AND r.state = 'pending' AND t.status = 'open'"
    )
    params: dict = {"u": user_id}
    if task_ids is not None:
        sql += " AND r.task_id = ANY(:ids)"
        params["ids"] = task_ids
    async with uow:
        rows = await uow.conn.execute(text(sql), params)
        return [
            PendingReminder(reminder_id=r.id, task_id=r.task_id, fire_at=r.fire_at) for r in rows
        ]


async def users_with_pending(
    uow: SqlUnitOfWork, *, after: str = "", limit: int = 1000
) -> list[str]:
    """The users with a reminder that can still fire, in id order after `after`: one page
    of the periodic reminder reconcile (actors.reconcile)."""
    sql = (
        "SELECT DISTINCT r.user_id FROM reminders r JOIN tasks t ON t.id = r.task_id "
        "WHERE r.state = 'pending' AND t.status = 'open' AND r.user_id > :after "
        "ORDER BY r.user_id LIMIT :limit"
    )
    async with uow:
        rows = await uow.conn.execute(text(sql), {"after": after, "limit": limit})
        return [r.user_id for r in rows]


async def fire(uow: SqlUnitOfWork, user_id: str, reminder_id: uuid.UUID, fire_at: datetime) -> bool:
    """Mark the reminder sent and record `reminder.due`, once per (reminder id, fire_at).

    The conditional update is the dedupe: a second delivery of the same fire time, a
    snoozed (moved) reminder, or a completed or deleted task all change no row, so nothing
    is published twice and a closed task's reminder never fires."""
    async with uow:
        row = (
            await uow.conn.execute(
                text(
                    "UPDATE reminders r SET state = 'sent', sent_at = :now FROM tasks t "
                    "WHERE r.id = :id AND r.user_id = :u AND r.fire_at = :f "
                    "AND r.state = 'pending' AND t.id = r.task_id AND t.status = 'open' "
                    "RETURNING r.task_id, r.before_minutes, t.title, t.due_at, t.timezone"
                ),
                {"id": reminder_id, "u": user_id, "f": fire_at, "now": uow.now()},
            )
        ).first()
        if row is None:
            return False
        uow.record(
            ReminderDue(
                occurred_at=uow.now(),
                user_id=user_id,
                task_id=row.task_id,
                data={
                    "reminder_id": str(reminder_id),
                    "fire_at": fire_at.isoformat(),
                    "dedupe_key": dedupe_key(str(reminder_id), fire_at),
                    "title": row.title,
                    "due_at": row.due_at.isoformat() if row.due_at else None,
                    "timezone": row.timezone,
                    "before_minutes": row.before_minutes,
                },
            )
        )
        await uow.commit()
        return True
