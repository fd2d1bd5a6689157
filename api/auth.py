"""Bearer JWT (HS256) authentication: the token's `sub` is the user id, always; an optional
`roles` claim (a list of strings) grants more, such as "operator"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"
OPERATOR = "operator"  # the default operator role (TICKLER_OPS_ROLE)
ROLES_CLAIM = "roles"  # the default claim that lists them (TICKLER_OPS_ROLES_CLAIM)


@dataclass(frozen=True)
class Caller:
    user_id: str
    roles: frozenset[str]


class AuthError(Exception):
    """A missing, malformed, expired or wrongly signed bearer token."""


def issue_token(
    secret: str,
    user_id: str,
    *,
    ttl: timedelta = timedelta(days=30),
    roles: Sequence[str] = (),
    roles_claim: str = ROLES_CLAIM,
) -> str:
    """`roles`: e.g. OPERATOR, who may use the ops routes and pages; in `roles_claim`."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl}
    if roles:
        claims[roles_claim] = list(roles)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def user_from_token(secret: str, token: str) -> str:
    return caller_from_token(secret, token).user_id


def caller_from_token(secret: str, token: str, roles_claim: str = ROLES_CLAIM) -> Caller:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]}
        )
    except jwt.PyJWTError as exc:
        raise AuthError(str(exc)) from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 200:
        raise AuthError("token has no usable subject")
    roles = claims.get(roles_claim, [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError(f"token's {roles_claim} claim is not a list of strings")
    return Caller(sub, frozenset(roles))


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("expected 'Authorization: Bearer <token>'")
    return token.strip()
