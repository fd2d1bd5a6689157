"""HTTP API v1: tasks. Routes parse, call one service function, and shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel

from api.deps import IdempotencyKey, UoW, User
from domain.errors import ValidationFailed
from domain.tasks import Status
from service import tasks as svc
from service.completion import Pending
from service.schemas import (
    Completion,
    DeleteScope,
    OccurrencePreview,
    TaskCreate,
    TaskPage,
    TaskPublic,
    TaskQuery,
    TaskUpdate,
)

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    404: {"description": "No such task for this user"},
    422: {"description": "Invalid input (problem+json with errors[])"},
}


def json_response(model: BaseModel, status: int = 200, headers: dict | None = None) -> Response:
    """Serialize once with pydantic-core (the model is already validated)."""
    return Response(model.model_dump_json(), status, headers, media_type="application/json")


def etag(task: TaskPublic) -> dict[str, str]:
    return {"ETag": f'"{task.version}"'}


def parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise ValidationFailed.field("If-Match", "must be the task's version number")
    return int(raw)


@router.post("", status_code=201, response_model=TaskPublic, responses=PROBLEMS)
async def create_task(
    body: TaskCreate, user: User, uow: UoW, idempotency_key: IdempotencyKey = None
) -> Response:
    task = await svc.create_task(uow, user, body, idempotency_key)
    return json_response(task, 201, {"Location": f"/v1/tasks/{task.id}", **etag(task)})


@router.get("", response_model=TaskPage, responses=PROBLEMS)
async def list_tasks(query: Annotated[TaskQuery, Query()], user: User, uow: UoW) -> Response:
    return json_response(await svc.list_tasks(uow, user, query))


@router.get("/{task_id}", response_model=TaskPublic, responses=PROBLEMS)
async def get_task(task_id: uuid.UUID, user: User, uow: UoW) -> Response:
    task = await svc.get_task(uow, user, task_id)
    return json_response(task, headers=etag(task))


@router.patch("/{task_id}", response_model=TaskPublic, responses=PROBLEMS)
async def update_task(
    task_id: uuid.UUID,
    body: TaskUpdate,
    user: User,
    uow: UoW,
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> Response:
    task = await svc.update_task(uow, user, task_id, body, parse_if_match(if_match))
    return json_response(task, headers=etag(task))


@router.delete("/{task_id}", status_code=204, responses=PROBLEMS)
async def delete_task(
    task_id: uuid.UUID, user: User, uow: UoW, scope: DeleteScope = DeleteScope.OCCURRENCE
) -> Response:
    await svc.delete_task(uow, user, task_id, scope)
    return Response(status_code=204)


COMPLETION_RESPONSES = {
    **PROBLEMS,
    202: {"description": "Still running after 5 s: poll the Location (/v1/operations/{id})"},
    409: {"description": "The task was closed the other way (completed vs skipped)"},
}


async def _finish(
    request: Request, user: str, task_id: uuid.UUID, status: Status, key: str | None
) -> Response:
    result = await request.app.state.completions.finish(user, task_id, status, key)
    if isinstance(result, Pending):
        location = f"/v1/operations/{result.operation_id}"
        return json_response(result, 202, {"Location": location})
    return json_response(result)


@router.post("/{task_id}/complete", response_model=Completion, responses=COMPLETION_RESPONSES)
async def complete_task(
    request: Request, task_id: uuid.UUID, user: User, idempotency_key: IdempotencyKey = None
) -> Response:
    return await _finish(request, user, task_id, Status.COMPLETED, idempotency_key)


@router.post("/{task_id}/skip", response_model=Completion, responses=COMPLETION_RESPONSES)
async def skip_task(
    request: Request, task_id: uuid.UUID, user: User, idempotency_key: IdempotencyKey = None
) -> Response:
    return await _finish(request, user, task_id, Status.SKIPPED, idempotency_key)


@router.get("/{task_id}/occurrences", response_model=OccurrencePreview, responses=PROBLEMS)
async def occurrences(
    task_id: uuid.UUID, user: User, uow: UoW, count: Annotated[int, Query(ge=1, le=100)] = 10
) -> Response:
    return json_response(await svc.preview_occurrences(uow, user, task_id, count))
