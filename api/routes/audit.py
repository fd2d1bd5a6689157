"""HTTP API v1: the caller's audit trail, as the audit consumer records it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import UoW, User
from service import audit
from service.audit import AuditPage, AuditQuery

router = APIRouter(tags=["events"])
PROBLEMS = {
    401: {"description": "Missing or bad bearer token"},
    422: {"description": "Invalid input (problem+json with errors[])"},
}


@router.get("/v1/audit", response_model=AuditPage, responses=PROBLEMS)
async def list_audit(query: Annotated[AuditQuery, Query()], user: User, uow: UoW) -> AuditPage:
    return await audit.list_entries(uow, user, query)
