"""RFC 9457 problem+json for every error, with `errors: [{field, message}]` for bad input."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from api.auth import AuthError, ScopeError
from api.protected_resource import API, challenge
from api.rate_limit import RateLimited
from domain.errors import (
    CompletionFailed,
    Conflict,
    DependencyUnavailable,
    DomainError,
    NotFound,
    ValidationFailed,
    VersionMismatch,
)

PROBLEM = "application/problem+json"
_STATUS: dict[type[DomainError], int] = {
    ValidationFailed: 422,
    NotFound: 404,
    VersionMismatch: 412,
    Conflict: 409,
    CompletionFailed: 503,
    DependencyUnavailable: 503,
}


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://tickler.dev/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    # drop pydantic's union/validator tags such as "function-after[...]"
    return ".".join(p for p in parts if "[" not in p) or "body"


def _message(err: dict[str, Any]) -> str:
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        return "unknown field"
    return msg.removeprefix("Value error, ")


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e["loc"]), "message": _message(e)} for e in exc.errors()]
        return problem(
            422, "Validation failed", "the request is not valid", errors, instance=request.url.path
        )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        errors = None
        if isinstance(exc, ValidationFailed):
            errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        headers = None
        if isinstance(exc, DependencyUnavailable):
            # answered, not raised: the client keeps its connection (an unhandled error
            # ends in a 500 after which uvicorn closes it)
            headers = {"Retry-After": str(exc.retry_after_s)}
        return problem(status, exc.title, str(exc), errors, headers, request.url.path)

    @app.exception_handler(AuthError)
    async def unauthorized(request: Request, exc: AuthError) -> JSONResponse:
        settings = request.app.state.settings
        return problem(
            401,
            "Unauthorized",
            str(exc),
            headers={"WWW-Authenticate": challenge(settings, request.scope, API)},
            instance=request.url.path,
        )

    @app.exception_handler(ScopeError)
    async def forbidden(request: Request, exc: ScopeError) -> JSONResponse:
        settings = request.app.state.settings
        header = challenge(
            settings, request.scope, API, error="insufficient_scope", needed=exc.scope
        )
        return problem(
            403,
            "Forbidden",
            str(exc),
            headers={"WWW-Authenticate": header},
            instance=request.url.path,
        )

    @app.exception_handler(RateLimited)
    async def too_many(request: Request, exc: RateLimited) -> JSONResponse:
        return problem(
            429,
            "Too many requests",
            str(exc),
            headers={"Retry-After": str(exc.retry_after_s)},
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
            413: "Content too large",
        }
        return problem(
            exc.status_code,
            titles.get(exc.status_code, "HTTP error"),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )
