"""Which failures of a call to the sidecar mean "it cannot be reached", as opposed to an
answer it gave; those become domain.errors.DependencyUnavailable, which the API
answers with 503 and Retry-After (api/problems.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import grpc

from domain.errors import DependencyUnavailable

# DEADLINE_EXCEEDED counts: a sidecar that is restarting accepts connections before it
# answers, and a call into it then runs out of time rather than being refused
UNREACHABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def unreachable(exc: BaseException) -> bool:
    """gRPC (the workflow client) or HTTP (actor calls) transport failure."""
    if isinstance(exc, grpc.RpcError):
        code = getattr(exc, "code", None)
        return code is not None and code() in UNREACHABLE_CODES
    return isinstance(exc, aiohttp.ClientConnectionError | ConnectionError)


@contextlib.asynccontextmanager
async def sidecar_call(what: str) -> AsyncIterator[None]:
    try:
        yield
    except Exception as exc:
        if not unreachable(exc):
            raise
        raise DependencyUnavailable(
            f"the Dapr sidecar cannot be reached ({what}); send the request again shortly"
        ) from exc
