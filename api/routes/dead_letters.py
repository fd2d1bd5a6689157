"""HTTP API v1 for operators: the dead letters, listed, read, redriven and discarded.

Dead letters are operator data, not user data: they are not scoped by user (an event of
any user may be among them), so every route here requires the operator role, and a
caller without it gets 403 whatever the id.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import Operator, UoW
from service import dead_letters
from service.dead_letters import (
    BulkSettle,
    BulkSettled,
    DeadLetterPage,
    DeadLetterPublic,
    DeadLetterQuery,
)

router = APIRouter(prefix="/v1/ops/dead-letters", tags=["operations"])
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    403: {"description": "The token's roles do not include operator"},
    422: {"description": "Invalid input (problem+json with errors[])"},
}
NOT_FOUND = {404: {"description": "No dead letter of that id"}}
NOT_KEPT = {409: {"description": "The dead letter is not kept: already redriven or discarded"}}


@router.get("", response_model=DeadLetterPage, responses=PROBLEMS)
async def list_dead_letters(
    query: Annotated[DeadLetterQuery, Query()], operator: Operator, uow: UoW
) -> DeadLetterPage:
    """Newest first; filter by `state` and `topic`; `limit` + `cursor` page."""
    return await dead_letters.list_dead_letters(uow, query)


@router.get(
    "/{dead_letter_id}", response_model=DeadLetterPublic, responses={**PROBLEMS, **NOT_FOUND}
)
async def get_dead_letter(
    dead_letter_id: uuid.UUID, operator: Operator, uow: UoW
) -> DeadLetterPublic:
    return await dead_letters.get_dead_letter(uow, dead_letter_id)


@router.post(
    "/{dead_letter_id}/redrive",
    response_model=DeadLetterPublic,
    responses={**PROBLEMS, **NOT_FOUND, **NOT_KEPT},
)
async def redrive(dead_letter_id: uuid.UUID, operator: Operator, uow: UoW) -> DeadLetterPublic:
    """Publish the event again, with its CloudEvent id, to the topic that dead-lettered it."""
    return await dead_letters.redrive(uow, dead_letter_id, operator)


@router.post(
    "/{dead_letter_id}/discard",
    response_model=DeadLetterPublic,
    responses={**PROBLEMS, **NOT_FOUND, **NOT_KEPT},
)
async def discard(dead_letter_id: uuid.UUID, operator: Operator, uow: UoW) -> DeadLetterPublic:
    return await dead_letters.discard(uow, dead_letter_id, operator)


@router.post(
    "/bulk",
    response_model=BulkSettled,
    responses={**PROBLEMS, 409: {"description": "The kept count changed: dry-run again"}},
)
async def settle_all(request: Request, body: BulkSettle, operator: Operator) -> BulkSettled:
    """Redrive or discard every kept dead letter (on `topic`): without `count`, a dry run
    with the count and the newest ten; with it, done, one transaction per dead letter."""
    return await dead_letters.settle_all(request.app.state.uow_factory, body, operator)
