"""The pub/sub building block: publishing (HTTP and gRPC) and delivery to the app's subscriptions.

One transport per pubsub component, opened on first use (a publish may come before the app is
ready). `start()` reads the app's `GET /dapr/subscribe` and starts delivery; `stop()` stops it,
leaving whatever was not settled to be redelivered by the next sidecar.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sidecar.app_channel import AppChannel
from sidecar.components import Component
from sidecar.pubsub import errors
from sidecar.pubsub.cloudevents import (
    CloudEventError,
    envelope,
    is_truthy,
    new_traceparent,
    ttl_of,
)
from sidecar.pubsub.delivery import Deliverer
from sidecar.pubsub.kafka import KafkaTransport
from sidecar.pubsub.postgres import PostgresTransport
from sidecar.pubsub.subscriptions import Subscription, parse_subscriptions
from sidecar.pubsub.transport import Transport
from sidecar.resiliency import Resiliency, Retry

log = logging.getLogger(__name__)

PoolFor = Callable[[str], Awaitable[asyncpg.Pool]]
SUPPORTED_TYPES = ("pubsub.postgresql", "pubsub.kafka")


class PubSubEngine:
    def __init__(
        self,
        components: list[Component],
        pool_for: PoolFor,
        app: AppChannel,
        app_id: str,
        resiliency: Resiliency | None = None,
    ) -> None:
        self._resiliency = resiliency or Resiliency()
        self._components = {c.name: c for c in components if c.kind == "pubsub"}
        for component in self._components.values():
            if component.type not in SUPPORTED_TYPES:
                raise ValueError(
                    f"pubsub component {component.name!r}: type {component.type!r} is not "
                    f"supported by the dev sidecar (only {', '.join(SUPPORTED_TYPES)})"
                )
        self._pool_for = pool_for
        self._app = app
        self._app_id = app_id
        self._transports: dict[str, Transport] = {}
        self._deliverers: list[Deliverer] = []
        self._opening: dict[str, asyncio.Lock] = {n: asyncio.Lock() for n in self._components}
        self.subscriptions: list[Subscription] = []
        self.routes: list[BaseRoute] = [
            Route("/v1.0/publish/{pubsub}/{topic:path}", self._http_publish, methods=["POST"]),
        ]

    def describe_components(self) -> list[dict[str, Any]]:
        return [
            {"name": c.name, "type": c.type, "version": c.version, "capabilities": []}
            for c in self._components.values()
        ]

    def describe_subscriptions(self) -> list[dict[str, Any]]:
        return [s.describe() for s in self.subscriptions]

    async def publish(
        self,
        pubsub: str,
        topic: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str],
        *,
        traceparent: str | None = None,
        tracestate: str = "",
    ) -> None:
        """Publish as daprd does: wrap in a CloudEvent unless `rawPayload`; raises PubSubError."""
        if not self._components:
            raise errors.pubsub_not_configured(pubsub)
        if not pubsub:
            raise errors.pubsub_name_empty()
        if pubsub not in self._components:
            raise errors.UnknownPubSub(pubsub)
        if not topic:
            raise errors.topic_empty(pubsub)
        if is_truthy(metadata.get("rawPayload")):
            body = data
        else:
            try:
                event = envelope(
                    data=data,
                    content_type=content_type,
                    source=self._app_id,
                    topic=topic,
                    pubsub=pubsub,
                    traceparent=traceparent or new_traceparent(),
                    tracestate=tracestate,
                    metadata=metadata,
                )
            except CloudEventError as exc:
                log.debug("cannot create cloudevent for %s/%s: %s", pubsub, topic, exc)
                raise errors.cloud_event_creation() from exc
            body = json.dumps(event, separators=(",", ":")).encode()
        try:
            transport = await self._transport(pubsub)
            await transport.publish(
                topic, body, key=metadata.get("partitionKey") or None, ttl=ttl_of(metadata)
            )
        except errors.PubSubError:
            raise
        except Exception as exc:  # any transport failure is daprd's ERR_PUBSUB_PUBLISH_MESSAGE
            raise errors.publish_failed(pubsub, topic, exc) from exc

    async def start(self) -> None:
        """Read the app's subscriptions and start delivering (the app is ready by now)."""
        self.subscriptions = [
            s for s in parse_subscriptions(await self._fetch_subscriptions()) if self._known(s)
        ]
        by_pubsub: dict[str, list[Subscription]] = {}
        for subscription in self.subscriptions:
            by_pubsub.setdefault(subscription.pubsub, []).append(subscription)
        for name, subscriptions in by_pubsub.items():
            transport = await self._transport(name)
            deliverer = Deliverer(
                self._app,
                name,
                subscriptions,
                Retry.from_component_metadata(self._components[name].metadata),
                dead_letter=lambda topic, body, t=transport: t.publish(topic, body),
                inbound=self._resiliency.inbound(name),
            )
            self._deliverers.append(deliverer)
            await transport.subscribe(deliverer.topics, deliverer)
            log.info("delivering %s on %s to the app", ", ".join(deliverer.topics), name)

    async def stop(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            await transport.close()
        deliverers, self._deliverers = self._deliverers, []
        for deliverer in deliverers:
            await deliverer.close()

    def _known(self, subscription: Subscription) -> bool:
        if subscription.pubsub in self._components:
            return True
        log.error(
            "app subscribes to %s/%s, but no pubsub component %r is loaded",
            subscription.pubsub,
            subscription.topic,
            subscription.pubsub,
        )
        return False

    async def _fetch_subscriptions(self) -> list[dict[str, Any]]:
        try:
            response = await self._app.get("/dapr/subscribe")
        except httpx.HTTPError as exc:
            log.error("GET /dapr/subscribe failed: %s", exc)
            return []
        if response.status_code != 200:
            return []  # the app declares no subscriptions (404 from apps without the route)
        try:
            items = response.json()
        except ValueError:
            log.error("GET /dapr/subscribe did not return JSON")
            return []
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    async def _transport(self, name: str) -> Transport:
        if (transport := self._transports.get(name)) is not None:
            return transport
        async with self._opening[name]:
            if (transport := self._transports.get(name)) is None:
                component = self._components[name]
                if component.type == "pubsub.kafka":
                    transport = await KafkaTransport.open(component, self._app_id)
                else:
                    pool = await self._pool_for(component.metadata["connectionString"])
                    transport = await PostgresTransport.open(component, pool, self._app_id)
                self._transports[name] = transport
            return transport

    async def _http_publish(self, request: Request) -> Response:
        prefix = "metadata."
        metadata = {
            key[len(prefix) :]: value
            for key, value in request.query_params.items()
            if key.startswith(prefix)
        }
        try:
            await self.publish(
                request.path_params["pubsub"],
                request.path_params["topic"],
                await request.body(),
                request.headers.get("content-type", ""),
                metadata,
                traceparent=request.headers.get("traceparent"),
                tracestate=request.headers.get("tracestate", ""),
            )
        except errors.PubSubError as exc:
            return JSONResponse(exc.http_body(), status_code=exc.http_status)
        return Response(status_code=204)
