"""The pub/sub building block: publishing (HTTP and gRPC) and delivery to the app's subscriptions.

One transport per pubsub component, opened on first use (a publish may come before the app is
ready). `start()` reads the app's `GET /dapr/subscribe` and starts delivery; `stop()` stops it,
leaving whatever was not settled to be redelivered by the next sidecar.

Bulk publish is `POST|PUT /v1.0-alpha1/publish/bulk/{pubsub}/{topic}` (and `/v1.0/...`,
pkg/api/http/http.go onBulkPublish) here, and gRPC `BulkPublishEventAlpha1`/`BulkPublishEvent`
in sidecar/grpc_api.py (pkg/api/grpc/grpc.go bulkPublishEvent); both publish through
`publish_bulk`, as pkg/runtime/pubsub/publisher/publisher.go BulkPublish does: pubsub.kafka
has its own BulkPublish, other transports publish entry by entry
(pkg/runtime/pubsub/default_bulkpub.go). Bulk subscriptions: sidecar/pubsub/bulk.py.
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
from sidecar.pubsub.bulk import (
    DEFAULT_MAX_AWAIT_MS,
    DEFAULT_MAX_MESSAGES,
    KAFKA_MAX_AWAIT_MS,
    KAFKA_MAX_MESSAGES,
    BulkDeliverer,
    BulkError,
    BulkMessage,
    http_event_bytes,
    is_raw_payload,
    merge_entry_metadata,
)
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
from sidecar.pubsub.transport import BulkSpec, Transport
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
            *(
                Route(
                    f"/{version}/publish/bulk/{{pubsub}}/{{topic:path}}",
                    self._http_bulk_publish,
                    methods=["POST", "PUT"],
                )
                for version in ("v1.0-alpha1", "v1.0")
            ),
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
        self.check_target(pubsub, topic)
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
            single = [s for s in subscriptions if s.bulk is None]
            deliverer = Deliverer(
                self._app,
                name,
                single,
                Retry.from_component_metadata(self._components[name].metadata),
                dead_letter=lambda topic, body, t=transport: t.publish(topic, body),
                inbound=self._resiliency.inbound(name),
            )
            self._deliverers.append(deliverer)
            bulk = {s.topic: self._bulk_spec(name, s, deliverer) for s in subscriptions if s.bulk}
            await transport.subscribe(deliverer.topics, deliverer, bulk)
            log.info("delivering %s on %s to the app", ", ".join([*deliverer.topics, *bulk]), name)

    def _bulk_spec(self, name: str, subscription: Subscription, deliverer: Deliverer) -> BulkSpec:
        assert subscription.bulk is not None
        if self._components[name].type == "pubsub.kafka":
            defaults = (KAFKA_MAX_MESSAGES, KAFKA_MAX_AWAIT_MS)  # its own BulkSubscribe
        else:
            defaults = (DEFAULT_MAX_MESSAGES, DEFAULT_MAX_AWAIT_MS)
        count, wait = subscription.bulk.resolved(*defaults)

        async def dead_letter(topic: str, entries: list[BulkMessage]) -> None:
            failed = await self._publish_entries(
                name,
                topic,
                [(e.entry_id, e.event, e.metadata) for e in entries],
                {"pubsubName": name},
            )
            if failed:
                raise ConnectionError(f"dead-lettering {len(failed)} entries failed: {failed}")

        handler = BulkDeliverer(
            self._app.base_url,
            deliverer.session,
            name,
            subscription,
            dead_letter,
            inbound=self._resiliency.inbound(name),
        )
        return count, wait, handler

    def check_target(self, pubsub: str, topic: str) -> None:
        """validateAndGetPubsubAndTopic (pkg/api/http/http.go, pkg/api/grpc/grpc.go): the same
        checks, in the same order, for a publish and a bulk publish."""
        if not self._components:
            raise errors.pubsub_not_configured(pubsub)
        if not pubsub:
            raise errors.pubsub_name_empty()
        if pubsub not in self._components:
            raise errors.UnknownPubSub(pubsub)
        if not topic:
            raise errors.topic_empty(pubsub)

    def bulk_cloud_event(
        self,
        pubsub: str,
        topic: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None,
        traceparent: str | None,
        tracestate: str,
    ) -> bytes:
        """One bulk entry's CloudEvent, built as the single publish builds it, under a child
        span of the request's trace (a fresh trace without one)."""
        if traceparent and len(parts := traceparent.split("-")) == 4:
            parts[2] = new_traceparent().split("-")[2]
            traceparent = "-".join(parts)
        else:
            traceparent = new_traceparent()
        try:
            event = envelope(
                data=data,
                content_type=content_type,
                source=self._app_id,
                topic=topic,
                pubsub=pubsub,
                traceparent=traceparent,
                tracestate=tracestate,
                metadata=metadata or {},
            )
        except CloudEventError as exc:
            log.debug("cannot create cloudevent for %s/%s: %s", pubsub, topic, exc)
            raise errors.cloud_event_creation() from exc
        return json.dumps(event, separators=(",", ":")).encode()

    async def publish_bulk(
        self,
        pubsub: str,
        topic: str,
        entries: list[tuple[str, bytes, dict[str, str] | None]],
        metadata: dict[str, str],
    ) -> None:
        """(entry id, body, entry metadata) published; raises BulkPublishFailed naming the
        entries that were not."""
        failed = await self._publish_entries(pubsub, topic, entries, metadata)
        if failed:
            raise errors.BulkPublishFailed(pubsub, topic, self._bulk_error(pubsub, failed), failed)

    def _bulk_error(self, pubsub: str, failed: list[tuple[str, str]]) -> str:
        if self._components[pubsub].type == "pubsub.kafka":
            return f"kafka: Failed to deliver {len(failed)} messages."  # sarama ProducerErrors
        return failed[0][1]  # errgroup: the first error

    async def _publish_entries(
        self,
        pubsub: str,
        topic: str,
        entries: list[tuple[str, bytes, dict[str, str] | None]],
        metadata: dict[str, str],
    ) -> list[tuple[str, str]]:
        try:
            transport = await self._transport(pubsub)
        except Exception as exc:  # the component is unusable: every entry failed
            return [(entry_id, str(exc)) for entry_id, _, _ in entries]
        if isinstance(transport, KafkaTransport):
            records = []
            for entry_id, body, entry_metadata in entries:
                # Kafka's BulkPublish copies the request's metadata over each entry's
                merged = {**(entry_metadata or {}), **metadata}
                key = merged.get("partitionKey") or merged.get("__key") or None
                records.append((entry_id, body, key))
            try:
                return await transport.publish_many(topic, records)
            except Exception as exc:  # e.g. the producer is closed
                return [(entry_id, str(exc)) for entry_id, _, _ in entries]

        async def one(body: bytes, entry_metadata: dict[str, str] | None) -> None:
            entry_metadata = entry_metadata or {}
            await transport.publish(
                topic,
                body,
                key=entry_metadata.get("partitionKey") or None,
                ttl=ttl_of(entry_metadata),
            )

        outcomes = await asyncio.gather(
            *(one(body, entry_metadata) for _, body, entry_metadata in entries),
            return_exceptions=True,
        )
        return [
            (entry_id, str(outcome) or type(outcome).__name__)
            for (entry_id, _, _), outcome in zip(entries, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]

    async def _http_bulk_publish(self, request: Request) -> Response:
        """pkg/api/http/http.go onBulkPublish, step by step."""
        pubsub, topic = request.path_params["pubsub"], request.path_params["topic"]
        prefix = "metadata."
        metadata = {
            key[len(prefix) :]: value
            for key, value in request.query_params.items()
            if key.startswith(prefix)
        }
        try:
            self.check_target(pubsub, topic)
            try:
                raw = is_raw_payload(metadata)
            except BulkError as exc:
                raise errors.metadata_deserialize(exc) from exc
            try:
                items = _decode_bulk_body(await request.body())
            except ValueError as exc:
                raise errors.unmarshal_events(pubsub, topic, exc) from exc
            entries: list[tuple[str, bytes, str, dict[str, str] | None]] = []
            seen: set[str] = set()
            for item in items:
                try:
                    data = http_event_bytes(item["event"], item["contentType"])
                except BulkError as exc:
                    raise errors.marshal_envelope(pubsub, topic, exc) from exc
                entry_metadata = item["metadata"]
                if entry_metadata is not None:
                    entry_metadata = merge_entry_metadata(metadata, entry_metadata)
                if not item["entryId"] or item["entryId"] in seen:
                    raise errors.marshal_events_entry_id(pubsub, topic)
                seen.add(item["entryId"])
                entries.append((item["entryId"], data, item["contentType"], entry_metadata))
            traceparent = request.headers.get("traceparent")
            tracestate = request.headers.get("tracestate", "")
            bodies = [
                (
                    entry_id,
                    data
                    if raw
                    else self.bulk_cloud_event(
                        pubsub, topic, data, content_type, entry_metadata, traceparent, tracestate
                    ),
                    entry_metadata,
                )
                for entry_id, data, content_type, entry_metadata in entries
            ]
            await self.publish_bulk(pubsub, topic, bodies, metadata)
        except errors.BulkPublishFailed as exc:
            failed = [
                {"entryId": entry_id, **({"error": error} if error else {})}
                for entry_id, error in exc.failed
            ]
            data = json.dumps(
                {"failedEntries": failed, "errorCode": exc.error_code}, separators=(",", ":")
            )
            return Response(
                data,
                status_code=exc.http_status,
                media_type="application/json",
                headers={"metadata.responseData": data, "metadata.error": exc.message},
            )
        except errors.PubSubError as exc:
            return JSONResponse(exc.http_body(), status_code=exc.http_status)
        return Response(status_code=204)

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


def _decode_bulk_body(body: bytes) -> list[dict[str, Any]]:
    """`[]bulkPublishMessageEntry` as encoding/json decodes it (keys match case-insensitively,
    `null` is no entries, an empty body is EOF); ValueError where Go fails."""
    if not body.strip():
        raise ValueError("EOF")
    items = json.JSONDecoder().raw_decode(body.decode().lstrip(" \t\r\n"))[0]
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError(
            f"json: cannot unmarshal {type(items).__name__} into []bulkPublishMessageEntry"
        )
    decoded = []
    for item in items:
        item = item if item is not None else {}
        if not isinstance(item, dict):
            raise ValueError("json: cannot unmarshal an entry into bulkPublishMessageEntry")
        folded = {str(k).lower(): v for k, v in item.items()}
        entry = {
            "entryId": item.get("entryId", folded.get("entryid")) or "",
            "event": item.get("event", folded.get("event")),
            "contentType": item.get("contentType", folded.get("contenttype")) or "",
            "metadata": item.get("metadata", folded.get("metadata")),
        }
        if not isinstance(entry["entryId"], str) or not isinstance(entry["contentType"], str):
            raise ValueError("json: cannot unmarshal entryId/contentType: not a string")
        meta = entry["metadata"]
        if meta is not None and (
            not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values())
        ):
            raise ValueError("json: cannot unmarshal metadata into map[string]string")
        decoded.append(entry)
    return decoded
