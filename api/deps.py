"""Request dependencies: the caller (from the bearer token, with the scope the request
needs), an operator, and a unit of work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from api.auth import READ, WRITE, Caller, ScopeError, bearer_token
from store.uow import SqlUnitOfWork

# what a request may do with a read-only token: look
READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def current_caller(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Caller:
    caller = await request.app.state.verifier.caller(bearer_token(authorization))
    await request.app.state.rate_limit.take(caller.user_id)
    return caller


async def current_user(request: Request, caller: Annotated[Caller, Depends(current_caller)]) -> str:
    """The caller's user id, if the token's scopes allow the request: tasks:read to read,
    tasks:write to change anything; 403 otherwise."""
    needed = READ if request.method in READS else WRITE
    if needed not in caller.scopes:
        raise ScopeError(needed)
    return caller.user_id


async def current_operator(
    request: Request, caller: Annotated[Caller, Depends(current_caller)]
) -> str:
    """The caller's user id, if the token's roles include the operator role; 403 otherwise."""
    settings = request.app.state.settings
    if settings.ops_role not in caller.roles:
        raise HTTPException(
            403,
            f"operators only: the token's {settings.ops_roles_claim} lack '{settings.ops_role}'",
        )
    return caller.user_id


async def unit_of_work(request: Request) -> SqlUnitOfWork:
    return request.app.state.uow_factory()


IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]
User = Annotated[str, Depends(current_user)]
Operator = Annotated[str, Depends(current_operator)]
UoW = Annotated[SqlUnitOfWork, Depends(unit_of_work)]
