"""The operators' browser session: the bearer token kept in an HttpOnly, SameSite=Strict
cookie, and a CSRF token derived from it that every state-changing form carries.

The CSRF token is an HMAC of the session's token under the app's JWT secret: a page can
show it, another site cannot compute it, and it changes with every login. The JSON API
under /v1/ops takes bearer tokens only, which a browser never sends by itself, so it needs
no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request
from fastapi.responses import Response

from api.auth import AuthError, Caller

COOKIE = "tickler_ops"
MAX_AGE_S = 8 * 3600  # a working day; the token's own expiry still applies


class NotLoggedIn(Exception):
    """No session, or one whose token no longer holds."""


class NotOperator(Exception):
    """A valid token without the operator role."""


def secret(request: Request) -> str:
    return request.app.state.settings.jwt_secret.get_secret_value()


async def operator_of(request: Request, token: str | None) -> Caller:
    if not token:
        raise NotLoggedIn
    settings = request.app.state.settings
    try:
        caller = await request.app.state.verifier.caller(token)
    except AuthError as exc:
        raise NotLoggedIn from exc
    if settings.ops_role not in caller.roles:
        raise NotOperator
    return caller


async def session_operator(request: Request) -> Caller:
    return await operator_of(request, request.cookies.get(COOKIE))


def csrf_token(request: Request) -> str:
    token = request.cookies.get(COOKIE, "")
    return hmac.new(secret(request).encode(), f"csrf:{token}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(request: Request, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(sent, csrf_token(request))


def start(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/ops",
    )


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/ops", httponly=True, samesite="strict")
