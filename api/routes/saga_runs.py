"""HTTP API v1 for operators: the completion saga's runs (its read model), listed with the
dashboard's filters and counts, and read one at a time with every attempt at the same
occurrence. Operator data: every route requires the operator role, and a caller without
it gets 403 whatever the id."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from api.deps import Operator, UoW
from domain.errors import DependencyUnavailable
from service import bulk_actions, saga_actions, saga_runs
from service.bulk_actions import BulkConfirm, BulkPublic, BulkRequest, DryRun
from service.saga_actions import (
    ActionLogPage,
    ActionOutcome,
    ActionRequest,
    SagaAction,
    SagaControl,
    SagaHistory,
)
from service.saga_runs import SagaRunDetail, SagaRunPage, SagaRunQuery

router = APIRouter(prefix="/v1/ops", tags=["operations"])
InstanceId = Annotated[str, Path(min_length=1, max_length=200)]
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    403: {"description": "The token's roles do not include operator"},
    422: {"description": "Invalid input (problem+json with errors[])"},
}


@router.get("/sagas", response_model=SagaRunPage, responses=PROBLEMS)
async def list_runs(
    query: Annotated[SagaRunQuery, Query()], operator: Operator, uow: UoW
) -> SagaRunPage:
    """Newest first; filter by status (repeatable), kind, user, task, series, start time and
    failure text; `counts` are per status under the other filters; `limit` + `cursor` page."""
    return await saga_runs.list_runs(uow, query)


NOT_FOUND = {404: {"description": "No saga run of that instance id"}}


@router.get(
    "/sagas/{instance_id}", response_model=SagaRunDetail, responses={**PROBLEMS, **NOT_FOUND}
)
async def get_run(instance_id: InstanceId, operator: Operator, uow: UoW) -> SagaRunDetail:
    return await saga_runs.get_run(uow, instance_id)


def saga_control(request: Request) -> SagaControl:
    control = request.app.state.saga_control
    if control is None:
        raise DependencyUnavailable("no workflow runtime: the app runs without a Dapr sidecar")
    return control


@router.post(
    "/sagas/{instance_id}/{action}",
    response_model=ActionOutcome,
    responses={
        **PROBLEMS,
        **NOT_FOUND,
        409: {"description": "The run's status does not allow it, or a later attempt exists"},
        503: {"description": "The workflow runtime cannot be reached"},
    },
)
async def act(
    request: Request,
    instance_id: InstanceId,
    action: SagaAction,
    body: ActionRequest,
    operator: Operator,
    control: Annotated[SagaControl, Depends(saga_control)],
) -> ActionOutcome:
    """terminate, suspend, resume, purge, or retry (a failed or terminated run, as a new
    attempt); the reason goes to the operator audit log with who and when."""
    return await saga_actions.act(
        request.app.state.uow_factory, control, operator, instance_id, action, body.reason
    )


@router.get(
    "/sagas/{instance_id}/history",
    response_model=SagaHistory,
    responses={**PROBLEMS, 404: {"description": "The runtime has no such instance (or purged)"}},
)
async def history(
    instance_id: InstanceId,
    operator: Operator,
    control: Annotated[SagaControl, Depends(saga_control)],
) -> SagaHistory:
    """The instance's history from the runtime (GetInstanceHistory), and its activity calls
    paired with their ends: step, start, end, duration, retries."""
    return await saga_actions.history(control, instance_id)


@router.get("/actions", response_model=ActionLogPage, responses=PROBLEMS)
async def action_log(
    operator: Operator,
    uow: UoW,
    target: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> ActionLogPage:
    """The operator audit log, newest first; `target` narrows it to one saga run."""
    return await saga_actions.action_log(uow, target=target, cursor=cursor, limit=limit)


@router.post("/bulk-actions/dry-run", response_model=DryRun, responses=PROBLEMS)
async def bulk_dry_run(body: BulkRequest, operator: Operator, uow: UoW) -> DryRun:
    """How many runs a bulk retry, terminate or purge over `filter` would act on, and the
    oldest of them; confirm with that count."""
    return await bulk_actions.dry_run(uow, body)


@router.post(
    "/bulk-actions",
    response_model=BulkPublic,
    status_code=202,
    responses={
        **PROBLEMS,
        409: {"description": "The filter now matches another count: dry-run again"},
    },
)
async def bulk_confirm(
    body: BulkConfirm,
    operator: Operator,
    uow: UoW,
    control: Annotated[SagaControl, Depends(saga_control)],
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)],
) -> BulkPublic:
    """Start it, naming the dry run's count; the same Idempotency-Key gives back the same
    bulk action. It runs in the background; poll GET /v1/ops/bulk-actions/{id}."""
    del control  # not used here, only required: without a runtime it could never run
    return await bulk_actions.confirm(uow, operator, idempotency_key, body)


@router.get("/bulk-actions", response_model=list[BulkPublic], responses=PROBLEMS)
async def bulk_recent(operator: Operator, uow: UoW) -> list[BulkPublic]:
    return await bulk_actions.recent(uow)


@router.get(
    "/bulk-actions/{bulk_id}",
    response_model=BulkPublic,
    responses={**PROBLEMS, 404: {"description": "No bulk action of that id"}},
)
async def bulk_progress(bulk_id: uuid.UUID, operator: Operator, uow: UoW) -> BulkPublic:
    return await bulk_actions.get(uow, bulk_id)
