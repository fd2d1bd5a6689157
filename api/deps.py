"""Request dependencies: the caller (from the bearer token), an operator, and a unit of work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from api.auth import bearer_token, caller_from_token, user_from_token
from store.uow import SqlUnitOfWork


async def current_user(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> str:
    secret = request.app.state.settings.jwt_secret.get_secret_value()
    return user_from_token(secret, bearer_token(authorization))


async def current_operator(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> str:
    """The caller's user id, if the token's roles include the operator role; 403 otherwise."""
    settings = request.app.state.settings
    secret = settings.jwt_secret.get_secret_value()
    caller = caller_from_token(secret, bearer_token(authorization), settings.ops_roles_claim)
    if settings.ops_role not in caller.roles:
        raise HTTPException(
            403,
            f"operators only: the token's {settings.ops_roles_claim} lack '{settings.ops_role}'",
        )
    return caller.user_id


async def unit_of_work(request: Request) -> SqlUnitOfWork:
    return request.app.state.uow_factory()


User = Annotated[str, Depends(current_user)]
Operator = Annotated[str, Depends(current_operator)]
UoW = Annotated[SqlUnitOfWork, Depends(unit_of_work)]
