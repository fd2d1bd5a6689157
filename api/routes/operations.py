"""HTTP API v1: long-running operations (completion sagas that outlived the request)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from api.deps import UoW, User
from domain.errors import NotFound
from service import tasks as svc

router = APIRouter(prefix="/v1/operations", tags=["operations"])
PREFIX = "complete-"


@router.get("/{operation_id}", responses={404: {"description": "No such operation"}})
async def get_operation(operation_id: str, request: Request, user: User, uow: UoW) -> dict:
    """The saga's status and, once it finished, its result."""
    task_id = _task_id(operation_id)
    await svc.get_task(uow, user, task_id)  # another user's operation is a 404 like any id
    return await request.app.state.completions.operation(operation_id)


def _task_id(operation_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(operation_id.removeprefix(PREFIX))
    except ValueError as exc:
        raise NotFound(f"operation {operation_id} not found") from exc
