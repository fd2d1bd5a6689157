"""Request dependencies: the caller (from the bearer token) and a unit of work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api.auth import bearer_token, user_from_token
from store.uow import SqlUnitOfWork


async def current_user(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> str:
    secret = request.app.state.settings.jwt_secret.get_secret_value()
    return user_from_token(secret, bearer_token(authorization))


async def unit_of_work(request: Request) -> SqlUnitOfWork:
    return request.app.state.uow_factory()


User = Annotated[str, Depends(current_user)]
UoW = Annotated[SqlUnitOfWork, Depends(unit_of_work)]
