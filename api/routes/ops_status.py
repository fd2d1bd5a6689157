"""HTTP API v1 for operators: the health panel's numbers, and read-only looks at a series'
RecurringTaskActor and a user's ReminderScheduleActor. Operators only."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Path, Request

from api.deps import Operator, UoW
from domain.errors import DependencyUnavailable
from service import ops_health, ops_schedules
from service.ops_health import Health
from service.ops_schedules import ScheduleLookup

router = APIRouter(prefix="/v1/ops", tags=["operations"])
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    403: {"description": "The token's roles do not include operator"},
}
SIDECAR_TIMEOUT_S = 1.0


async def sidecar_reachable(request: Request) -> bool | None:
    """daprd's own health endpoint, as the app reaches it; None without a sidecar."""
    port = request.app.state.settings.dapr_http_port
    if port is None:
        return None
    try:
        async with httpx.AsyncClient(timeout=SIDECAR_TIMEOUT_S) as client:
            answer = await client.get(f"http://127.0.0.1:{port}/v1.0/healthz/outbound")
    except httpx.HTTPError:
        return False
    return answer.status_code < 300


def schedules(request: Request) -> ScheduleLookup:
    lookup = request.app.state.schedules
    if lookup is None:
        raise DependencyUnavailable("no actors: the app runs without a Dapr sidecar")
    return lookup


@router.get("/health", response_model=Health, responses=PROBLEMS)
async def health(request: Request, operator: Operator, uow: UoW) -> Health:
    """Outbox backlog and oldest age, each consumer's last handled event, saga starts,
    completions and failures per minute over the last hour, reminder lateness over the
    last hour, and whether the sidecar answers."""
    return await ops_health.health(uow, await sidecar_reachable(request))


@router.get(
    "/series/{series_id}",
    responses={**PROBLEMS, 404: {"description": "No series of that id"}},
)
async def describe_series(
    series_id: uuid.UUID,
    operator: Operator,
    uow: UoW,
    lookup: Annotated[ScheduleLookup, Depends(schedules)],
) -> dict[str, Any]:
    """The series as its RecurringTaskActor holds it: rule, open occurrence, count,
    EXDATEs and state."""
    return await ops_schedules.describe_series(uow, lookup, series_id)


@router.get("/schedules/{user_id}", responses=PROBLEMS)
async def describe_schedule(
    user_id: Annotated[str, Path(min_length=1, max_length=200)],
    operator: Operator,
    lookup: Annotated[ScheduleLookup, Depends(schedules)],
) -> dict[str, Any]:
    """The user's ReminderScheduleActor: pending reminders, earliest first, and the time its
    durable reminder is armed for. Read-only: it changes nothing."""
    return await ops_schedules.describe_schedule(lookup, user_id)
