"""HTTP API v1: reminders, through the same service calls as the MCP tools (upcoming,
snooze, explain). Setting a task's reminders is `PATCH /v1/tasks/{id}` with `reminders`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import IdempotencyKey, UoW, User
from service import reminders as svc
from service.schemas import ReminderExplanationOut, ReminderOut, ReminderSnooze, UpcomingReminders

router = APIRouter(prefix="/v1/reminders", tags=["reminders"])
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    404: {"description": "No such reminder for this user"},
    422: {"description": "Invalid input (problem+json with errors[])"},
}


@router.get("/upcoming", response_model=UpcomingReminders, responses=PROBLEMS)
async def upcoming(
    user: User,
    uow: UoW,
    within_hours: Annotated[int | None, Query(ge=1, le=24 * 366)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> UpcomingReminders:
    """Pending reminders of open tasks, soonest first."""
    within = timedelta(hours=within_hours) if within_hours else None
    items = await svc.list_upcoming_reminders(uow, user, within=within, limit=limit)
    return UpcomingReminders(items=items)


@router.post(
    "/{reminder_id}/snooze",
    response_model=ReminderOut,
    responses={**PROBLEMS, 409: {"description": "The task is closed: its reminders are off"}},
)
async def snooze(
    reminder_id: uuid.UUID,
    body: ReminderSnooze,
    user: User,
    uow: UoW,
    idempotency_key: IdempotencyKey = None,
) -> ReminderOut:
    """Fire again `minutes` from now or at `until`: exactly one of them."""
    return await svc.snooze_reminder(
        uow,
        user,
        reminder_id,
        minutes=body.minutes,
        until=body.until,
        idempotency_key=idempotency_key,
    )


@router.get("/{reminder_id}/explain", response_model=ReminderExplanationOut, responses=PROBLEMS)
async def explain(reminder_id: uuid.UUID, user: User, uow: UoW) -> ReminderExplanationOut:
    """Why the reminder fires when it does: anchor, offset, zone, UTC and local time, state."""
    return await svc.explain_reminder(uow, user, reminder_id)
