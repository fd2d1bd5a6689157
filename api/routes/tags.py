"""HTTP API v1: tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import UoW, User
from service import tags as svc
from service.schemas import TagCount, TagRename

router = APIRouter(prefix="/v1/tags", tags=["tags"])
TagName = Annotated[str, Path(min_length=1, max_length=40)]


@router.get("", response_model=list[TagCount])
async def list_tags(user: User, uow: UoW) -> list[TagCount]:
    return await svc.list_tags(uow, user)


@router.patch("/{name}", response_model=TagCount, responses={404: {"description": "No such tag"}})
async def rename_tag(name: TagName, body: TagRename, user: User, uow: UoW) -> TagCount:
    return await svc.rename_tag(uow, user, name, body.name)


@router.delete("/{name}", status_code=204, responses={404: {"description": "No such tag"}})
async def delete_tag(name: TagName, user: User, uow: UoW) -> Response:
    await svc.delete_tag(uow, user, name)
    return Response(status_code=204)
