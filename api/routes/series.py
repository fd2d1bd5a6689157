"""HTTP API v1: a recurring series' control, through its RecurringTaskActor: describe it,
pause, resume or end it, and skip a chosen future date (service.series_control)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.deps import UoW, User
from service import series_control as svc
from service.schemas import SeriesSkip, SeriesView
from service.series_control import SeriesControl

router = APIRouter(prefix="/v1/series", tags=["series"])
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    404: {"description": "No such series for this user"},
    409: {"description": "The series has ended, or the date is not after its open occurrence"},
    422: {"description": "Invalid input (problem+json with errors[])"},
    503: {"description": "The series actor did not answer: retry after Retry-After"},
}


def series_control(request: Request) -> SeriesControl:
    return request.app.state.series_control


Control = Annotated[SeriesControl, Depends(series_control)]


@router.get("/{series_id}", response_model=SeriesView, responses=PROBLEMS)
async def describe(series_id: uuid.UUID, user: User, uow: UoW, control: Control) -> SeriesView:
    """The rule and its summary, the state, the open occurrence and the next dates."""
    return await svc.describe(uow, control, user, series_id)


def _changing(action: svc.Action):
    async def change(series_id: uuid.UUID, user: User, uow: UoW, control: Control) -> SeriesView:
        return await svc.change(uow, control, user, series_id, action)

    change.__name__ = f"{action}_series"
    change.__doc__ = {
        "pause": "Pause: nothing new spawns and the open occurrence's reminders wait.",
        "resume": "Resume a paused series.",
        "end": "End the series for good: no occurrence after the open one.",
    }[action]
    return change


for _action in ("pause", "resume", "end"):
    router.add_api_route(
        f"/{{series_id}}/{_action}",
        _changing(_action),
        methods=["POST"],
        response_model=SeriesView,
        responses=PROBLEMS,
    )


@router.post("/{series_id}/skip", response_model=SeriesView, responses=PROBLEMS)
async def skip_date(
    series_id: uuid.UUID, body: SeriesSkip, user: User, uow: UoW, control: Control
) -> SeriesView:
    """Skip the series' instance(s) on a future local date (an EXDATE)."""
    return await svc.skip_date(uow, control, user, series_id, body.date)
