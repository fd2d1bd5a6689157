"""HTTP API v1: long-running operations (completion sagas that outlived the request)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import UoW, User
from domain.errors import NotFound
from service import tasks as svc
from service.completion import operation_task

router = APIRouter(prefix="/v1/operations", tags=["operations"])


@router.get(
    "/{operation_id}",
    responses={
        404: {"description": "No such operation"},
        503: {"description": "The Dapr sidecar cannot be reached: retry after Retry-After"},
    },
)
async def get_operation(operation_id: str, request: Request, user: User, uow: UoW) -> dict:
    """The saga's status and, once it finished, its result."""
    task_id = operation_task(operation_id)
    if task_id is None:
        raise NotFound(f"operation {operation_id} not found")
    await svc.get_task(uow, user, task_id)  # another user's operation is a 404 like any id
    return await request.app.state.completions.operation(operation_id)
