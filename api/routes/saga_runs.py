"""HTTP API v1 for operators: the completion saga's runs (its read model), listed with the
dashboard's filters and counts, and read one at a time with every attempt at the same
occurrence. Operator data: every route requires the operator role, and a caller without
it gets 403 whatever the id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Operator, UoW
from service import saga_runs
from service.saga_runs import SagaRunDetail, SagaRunPage, SagaRunQuery

router = APIRouter(prefix="/v1/ops/sagas", tags=["operations"])
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    403: {"description": "The token's roles do not include operator"},
    422: {"description": "Invalid input (problem+json with errors[])"},
}


@router.get("", response_model=SagaRunPage, responses=PROBLEMS)
async def list_runs(
    query: Annotated[SagaRunQuery, Query()], operator: Operator, uow: UoW
) -> SagaRunPage:
    """Newest first; filter by status (repeatable), kind, user, task, series, start time and
    failure text; `counts` are per status under the other filters; `limit` + `cursor` page."""
    return await saga_runs.list_runs(uow, query)


@router.get(
    "/{instance_id}",
    response_model=SagaRunDetail,
    responses={**PROBLEMS, 404: {"description": "No saga run of that instance id"}},
)
async def get_run(
    instance_id: Annotated[str, Path(min_length=1, max_length=200)], operator: Operator, uow: UoW
) -> SagaRunDetail:
    return await saga_runs.get_run(uow, instance_id)
