"""HTTP API v1: the caller's notifications, audit trail and webhook."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import UoW, User
from service import audit, notifications, webhooks
from service.audit import AuditPage, AuditQuery
from service.notifications import NotificationPage, NotificationPublic, NotificationQuery
from service.webhooks import WebhookIn, WebhookPublic

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


@router.get("/v1/audit", response_model=AuditPage, responses=PROBLEMS)
async def list_audit(query: Annotated[AuditQuery, Query()], user: User, uow: UoW) -> AuditPage:
    return await audit.list_entries(uow, user, query)


@router.put("/v1/webhook", response_model=WebhookPublic, responses=PROBLEMS)
async def set_webhook(body: WebhookIn, user: User, uow: UoW, request: Request) -> WebhookPublic:
    private = request.app.state.settings.webhook_private_targets
    return await webhooks.set_webhook(uow, user, body, allow_private=private)


@router.get("/v1/webhook", response_model=WebhookPublic, responses={**PROBLEMS, **NOT_FOUND})
async def get_webhook(user: User, uow: UoW) -> WebhookPublic:
    return await webhooks.get_webhook(uow, user)


@router.delete(
    "/v1/webhook", status_code=204, response_class=Response, responses={**PROBLEMS, **NOT_FOUND}
)
async def delete_webhook(user: User, uow: UoW) -> Response:
    await webhooks.delete_webhook(uow, user)
    return Response(status_code=204)
