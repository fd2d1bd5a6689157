"""OAuth 2.0 Protected Resource Metadata (RFC 9728), as the MCP authorization spec asks:
where an MCP client (or any client) learns which authorization server issues our tokens
and which scopes there are, and the `WWW-Authenticate` challenges that point to it.

Two resources: the HTTP API (the app's base URL) and the MCP endpoint (`/mcp`), each with
its metadata at `/.well-known/oauth-protected-resource` plus the resource's path."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import URL
from starlette.types import Scope

from api.auth import SCOPES
from api.settings import Settings

WELL_KNOWN = "/.well-known/oauth-protected-resource"
API, MCP = "", "/mcp"


def base_url(settings: Settings, scope: Scope) -> str:
    """TICKLER_PUBLIC_URL, or the URL the request came to (scheme and host)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    url = URL(scope=scope)
    return f"{url.scheme}://{url.netloc}"


def challenge(
    settings: Settings,
    scope: Scope,
    resource: str,
    *,
    error: str | None = None,
    needed: str | None = None,
) -> str:
    """A Bearer challenge naming the resource's metadata (RFC 9728 §5.1) and, for a token
    that lacks a scope, which one (RFC 6750 §3.1)."""
    parts = [
        'realm="tickler"',
        f'resource_metadata="{base_url(settings, scope)}{WELL_KNOWN}{resource}"',
    ]
    if error:
        parts.append(f'error="{error}"')
    if needed:
        parts.append(f'scope="{needed}"')
    return "Bearer " + ", ".join(parts)


def metadata(settings: Settings, scope: Scope, resource: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "resource": f"{base_url(settings, scope)}{resource}",
        "resource_name": "Tickler MCP" if resource == MCP else "Tickler API",
        "scopes_supported": list(SCOPES),
        "bearer_methods_supported": ["header"],
    }
    if settings.oidc_issuer:  # development tokens come from `tickler token`, no server
        document["authorization_servers"] = [settings.oidc_issuer]
    return document


router = APIRouter(include_in_schema=False)


@router.get(WELL_KNOWN)
async def api_metadata(request: Request) -> dict[str, Any]:
    return metadata(request.app.state.settings, request.scope, API)


@router.get(WELL_KNOWN + MCP)
async def mcp_metadata(request: Request) -> dict[str, Any]:
    return metadata(request.app.state.settings, request.scope, MCP)
