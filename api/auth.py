"""Bearer access tokens: OIDC (RS256 or ES256, verified against the identity provider's JWKS,
with `iss` and `aud` checked) and, for development, HS256 tokens signed with
TICKLER_JWT_SECRET (`tickler token`, `tickler dev`).

The user id is one claim of the token (`sub` unless TICKLER_OIDC_USER_CLAIM names another);
the scopes (`scope`, space-separated, or `scp`) say what the token may do: `tasks:read`
and `tasks:write`. An optional roles claim (a list of strings) grants more, such as the
operator role.

Which verification a token gets is decided by our configuration, never by the token: its
`alg` header only picks among the algorithms configured, so an HS256 token signed with an
identity provider's public key (the classic algorithm confusion) meets our secret, or no
HS256 at all, and fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from api.settings import Settings
from domain.errors import DependencyUnavailable

HS256 = "HS256"
OIDC_ALGORITHMS = ("RS256", "ES256")
OPERATOR = "operator"  # the default operator role (TICKLER_OPS_ROLE)
ROLES_CLAIM = "roles"  # the default claim that lists them (TICKLER_OPS_ROLES_CLAIM)
READ, WRITE = "tasks:read", "tasks:write"
SCOPES = (READ, WRITE)
# clock skew between us and an identity provider; our own tokens are on our own clock
OIDC_LEEWAY = timedelta(seconds=30)


@dataclass(frozen=True)
class Caller:
    user_id: str
    roles: frozenset[str]
    scopes: frozenset[str]


class AuthError(Exception):
    """A missing, malformed, expired or wrongly signed bearer token: 401."""


class ScopeError(Exception):
    """A valid token without the scope the request needs: 403."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this token lacks the {scope} scope")
        self.scope = scope


def issue_token(
    secret: str,
    user_id: str,
    *,
    ttl: timedelta = timedelta(days=30),
    roles: Sequence[str] = (),
    roles_claim: str = ROLES_CLAIM,
    scopes: Sequence[str] = SCOPES,
) -> str:
    """A development token (HS256). `roles`: e.g. OPERATOR, who may use the ops routes and
    pages; in `roles_claim`. `scopes`: both by default; (READ,) for a read-only token."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl}
    if scopes:
        claims["scope"] = " ".join(scopes)
    if roles:
        claims[roles_claim] = list(roles)
    return jwt.encode(claims, secret, algorithm=HS256)


@dataclass(frozen=True)
class Oidc:
    """An identity provider's tokens: its JWKS, its issuer and our audience."""

    jwks_url: str
    issuer: str
    audience: str
    # at least this long between JWKS fetches that an unknown `kid` forces: a rotated key
    # is picked up at once, but a stream of made-up kids cannot make us hammer the provider
    refetch_interval_s: float = 60.0


class Verifier:
    """Checks bearer tokens; one per app (it caches the provider's keys)."""

    def __init__(
        self,
        *,
        hs256_secret: str | None,
        oidc: Oidc | None = None,
        user_claim: str = "sub",
        roles_claim: str = ROLES_CLAIM,
    ) -> None:
        if hs256_secret is None and oidc is None:
            raise ValueError("no way to verify tokens: set an OIDC provider or an HS256 secret")
        self.hs256_secret, self.oidc = hs256_secret, oidc
        self.user_claim, self.roles_claim = user_claim, roles_claim
        self._jwks = (
            jwt.PyJWKClient(oidc.jwks_url, cache_keys=True, lifespan=3600, timeout=5)
            if oidc
            else None
        )
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def caller(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from exc
        alg = header.get("alg")
        if alg == HS256 and self.hs256_secret is not None:
            claims = self._decode(token, self.hs256_secret, [HS256], oidc=None)
        elif alg in OIDC_ALGORITHMS and self.oidc is not None:
            key = await self._key(header.get("kid"))
            if key.algorithm_name != alg:
                raise AuthError(f"the token's alg {alg} is not its key's ({key.algorithm_name})")
            claims = self._decode(token, key.key, [alg], oidc=self.oidc)
        else:
            raise AuthError(f"tokens signed with {alg!r} are not accepted here")
        return self._caller(claims)

    def _decode(self, token: str, key: Any, algorithms: list[str], oidc: Oidc | None) -> dict:
        required = ["exp", self.user_claim, *(("iss", "aud") if oidc else ())]
        try:
            return jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=oidc.issuer if oidc else None,
                audience=oidc.audience if oidc else None,
                leeway=OIDC_LEEWAY if oidc else timedelta(0),
                options={"require": required, "verify_aud": oidc is not None},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(str(exc)) from exc

    def _caller(self, claims: dict[str, Any]) -> Caller:
        user = claims.get(self.user_claim)
        if not isinstance(user, str) or not user or len(user) > 200:
            raise AuthError(f"the token's {self.user_claim} claim is no usable user id")
        roles = claims.get(self.roles_claim, [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise AuthError(f"the token's {self.roles_claim} claim is not a list of strings")
        return Caller(user, frozenset(roles), _scopes(claims))

    async def _key(self, kid: Any) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token names no key (kid)")
        if (key := self._keys.get(kid)) is not None:
            return key
        assert self._jwks is not None and self.oidc is not None
        async with self._lock:  # one fetch at a time; the others then find its keys
            if (key := self._keys.get(kid)) is not None:
                return key
            if time.monotonic() - self._fetched_at < self.oidc.refetch_interval_s:
                raise AuthError(f"unknown signing key {kid!r}")
            self._fetched_at = time.monotonic()
            try:  # PyJWKClient fetches with urllib, which blocks: off the loop
                keys = await asyncio.to_thread(self._jwks.get_jwk_set, True)
            except jwt.PyJWKClientError as exc:
                # the token may be fine: the provider is away (503), not the caller wrong
                self._fetched_at = float("-inf")  # the next request tries again
                raise DependencyUnavailable(
                    f"the identity provider's keys are unavailable: {exc}"
                ) from exc
            self._keys = {k.key_id: k for k in keys.keys if k.key_id}
        if (key := self._keys.get(kid)) is None:
            raise AuthError(f"unknown signing key {kid!r}")
        return key


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    """`scope` (RFC 8693, RFC 9068: space-separated) or `scp` (a list, as some providers)."""
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return frozenset(raw)
    raise AuthError("the token's scope claim is neither a string nor a list of strings")


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("expected 'Authorization: Bearer <token>'")
    return token.strip()


def token_verifier(settings: Settings) -> Verifier:
    """The app's verifier, as the settings configure it."""
    oidc = None
    if settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience:
        oidc = Oidc(
            settings.oidc_jwks_url,
            settings.oidc_issuer,
            settings.oidc_audience,
            settings.oidc_jwks_refetch_s,
        )
    return Verifier(
        hs256_secret=settings.hs256_secret,
        oidc=oidc,
        user_claim=settings.oidc_user_claim,
        roles_claim=settings.ops_roles_claim,
    )
