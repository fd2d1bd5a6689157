"""HTTP API v1: the caller's webhook, which the notifier consumer delivers to."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import UoW, User
from service import webhooks
from service.webhooks import WebhookIn, WebhookPublic

router = APIRouter(tags=["events"])
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    422: {"description": "Invalid input (problem+json with errors[])"},
}
NOT_FOUND = {404: {"description": "Nothing of that id for this user"}}


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
