"""The sidecar's channel to the application (daprd's "app channel")."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx


class AppChannel:
    """HTTP client for calls from the sidecar to the app, with `APP_API_TOKEN` attached."""

    def __init__(self, host: str, port: int, *, timeout: float = 60.0) -> None:
        headers = {}
        if token := os.environ.get("APP_API_TOKEN"):
            headers["dapr-api-token"] = token
        self.base_url = f"http://{host}:{port}"
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self._client.request(method, path, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self._client.get(path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self._client.post(path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self._client.put(path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self._client.delete(path, **kwargs)

    async def wait_until_ready(self, within: float = 120.0) -> None:
        """Wait until the app answers on its port, as daprd does before it calls the app."""
        deadline = time.monotonic() + within
        delay = 0.05
        while True:
            try:
                await self._client.get("/healthz", timeout=2.0)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(delay)  # polling a port: nothing to wait on instead
                delay = min(delay * 1.5, 0.5)

    async def aclose(self) -> None:
        await self._client.aclose()
