"""Actor calls over connections that stay open.

The SDK's DaprHttpClient opens a new aiohttp session, and so a new TCP connection, for every
request: each actor invocation and each state write pays a connect. These subclasses keep
one session per event loop and otherwise send exactly what the SDK sends, to daprd or to
our dev sidecar alike, plus the current span's `traceparent` (telemetry.tracing), which
daprd carries on to the actor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
from dapr.actor import ActorProxyFactory
from dapr.clients import DaprActorHttpClient
from dapr.clients.http.client import (
    CONTENT_TYPE_HEADER,
    DAPR_API_TOKEN_HEADER,
    DAPR_USER_AGENT,
    DEFAULT_JSON_CONTENT_TYPE,
    USER_AGENT_HEADER,
    DaprHttpClient,
)
from dapr.conf import settings

from actors.serializer import SERIALIZER
from telemetry import tracing


class KeepAliveHttpClient(DaprHttpClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=200, keepalive_timeout=30)
            session = self._sessions[loop] = aiohttp.ClientSession(connector=connector)
        return session

    async def send_bytes(
        self,
        method: str,
        url: str,
        data: bytes | None,
        headers: dict[str, bytes | str] | None = None,
        query_params: Mapping | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 (the SDK's signature)
    ) -> tuple[bytes, aiohttp.ClientResponse]:
        headers = dict(headers or {})
        headers.setdefault(CONTENT_TYPE_HEADER, DEFAULT_JSON_CONTENT_TYPE)
        if settings.DAPR_API_TOKEN is not None:
            headers[DAPR_API_TOKEN_HEADER] = settings.DAPR_API_TOKEN
        if self._headers_callback is not None:
            headers.update(self._headers_callback())
        headers[USER_AGENT_HEADER] = DAPR_USER_AGENT
        tracing.inject(headers)
        request = {
            "method": method,
            "url": url,
            "data": data,
            "headers": headers,
            "sslcontext": self.get_ssl_context(),
            "params": query_params,
            "timeout": aiohttp.ClientTimeout(total=timeout) if timeout else self._timeout,
        }
        response = await self.retry_policy.make_http_call(self._session(), request)
        if 200 <= response.status < 300:
            return await response.read(), response
        raise await self.convert_to_error(response)


class KeepAliveActorClient(DaprActorHttpClient):
    """The actor runtime's client for state, reminders and timers (`actor_client=`)."""

    def __init__(self, timeout: int = 60) -> None:
        super().__init__(SERIALIZER, timeout=timeout)
        self._client = KeepAliveHttpClient(SERIALIZER, timeout)


class KeepAliveProxyFactory(ActorProxyFactory):
    """ActorProxy.create(..., actor_proxy_factory=proxies) for calls from the app."""

    def __init__(self, timeout: int = 60) -> None:
        super().__init__(SERIALIZER, http_timeout_seconds=timeout)
        self._dapr_client = KeepAliveActorClient(timeout)
