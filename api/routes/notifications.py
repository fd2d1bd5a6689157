"""HTTP API v1: the caller's notifications, as the notifier consumer stores them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import UoW, User
from service import notifications
from service.notifications import NotificationPage, NotificationPublic, NotificationQuery

router = APIRouter(tags=["events"])
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    422: {"description": "Invalid input (problem+json with errors[])"},
}
NOT_FOUND = {404: {"description": "Nothing of that id for this user"}}


@router.get("/v1/notifications", response_model=NotificationPage, responses=PROBLEMS)
async def list_notifications(
    query: Annotated[NotificationQuery, Query()], user: User, uow: UoW
) -> NotificationPage:
    return await notifications.list_notifications(uow, user, query)


@router.post(
    "/v1/notifications/{notification_id}/read",
    response_model=NotificationPublic,
    responses={**PROBLEMS, **NOT_FOUND},
)
async def mark_read(notification_id: uuid.UUID, user: User, uow: UoW) -> NotificationPublic:
    return await notifications.mark_read(uow, user, notification_id)
