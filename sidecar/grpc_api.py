"""The Dapr gRPC API (`dapr.proto.runtime.v1.Dapr`) as far as the dev sidecar serves it.

`PublishEvent` (what `DaprClient.publish_event` calls), `BulkPublishEventAlpha1` and
`BulkPublishEvent` (pkg/api/grpc/grpc.go bulkPublishEvent), and a minimal `GetMetadata`; every
other method keeps the generated base class's answer, UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from dapr.proto.runtime.v1 import dapr_pb2_grpc, metadata_pb2, pubsub_pb2
from google.protobuf import empty_pb2

from sidecar.pubsub import PubSubEngine, PubSubError
from sidecar.pubsub import errors as pubsub_errors
from sidecar.pubsub.bulk import BulkError, is_raw_payload, merge_entry_metadata


class DaprApi(dapr_pb2_grpc.DaprServicer):
    def __init__(self, pubsub: PubSubEngine, metadata: Callable[[], dict[str, Any]]) -> None:
        self._pubsub = pubsub
        self._metadata = metadata

    async def PublishEvent(
        self, request: pubsub_pb2.PublishEventRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        headers = {key: value for key, value in context.invocation_metadata() or ()}
        try:
            await self._pubsub.publish(
                request.pubsub_name,
                request.topic,
                request.data,
                request.data_content_type,
                dict(request.metadata),
                traceparent=headers.get("traceparent"),
                tracestate=headers.get("tracestate", ""),
            )
        except PubSubError as exc:
            await context.abort(exc.grpc_code, exc.message)
        return empty_pb2.Empty()

    async def BulkPublishEventAlpha1(
        self, request: pubsub_pb2.BulkPublishRequest, context: grpc.aio.ServicerContext
    ) -> pubsub_pb2.BulkPublishResponse:
        return await self._bulk_publish(request, context)

    async def BulkPublishEvent(
        self, request: pubsub_pb2.BulkPublishRequest, context: grpc.aio.ServicerContext
    ) -> pubsub_pb2.BulkPublishResponse:
        return await self._bulk_publish(request, context)

    async def _bulk_publish(
        self, request: pubsub_pb2.BulkPublishRequest, context: grpc.aio.ServicerContext
    ) -> pubsub_pb2.BulkPublishResponse:
        """As daprd: the request is checked, then entry by entry its id and CloudEvent; any
        entry that fails to publish fails the call with INTERNAL (ERR_PUBSUB_PUBLISH_MESSAGE),
        so `failed_entries` comes back empty whenever the call succeeds."""
        headers = {key: value for key, value in context.invocation_metadata() or ()}
        pubsub, topic, metadata = request.pubsub_name, request.topic, dict(request.metadata)
        try:
            self._pubsub.check_target(pubsub, topic)
            try:
                raw = is_raw_payload(metadata)
            except BulkError as exc:
                raise pubsub_errors.metadata_deserialize(exc) from exc
            seen: set[str] = set()
            bodies: list[tuple[str, bytes, dict[str, str] | None]] = []
            for entry in request.entries:
                if not entry.entry_id or entry.entry_id in seen:
                    raise pubsub_errors.marshal_events_entry_id(pubsub, topic)
                seen.add(entry.entry_id)
                # a proto map left empty is Go's nil map: no request metadata for the entry
                entry_metadata = (
                    merge_entry_metadata(metadata, dict(entry.metadata)) if entry.metadata else None
                )
                body = entry.event
                if not raw:
                    body = self._pubsub.bulk_cloud_event(
                        pubsub,
                        topic,
                        entry.event,
                        entry.content_type,
                        entry_metadata,
                        headers.get("traceparent"),
                        headers.get("tracestate", ""),
                    )
                bodies.append((entry.entry_id, body, entry_metadata))
            await self._pubsub.publish_bulk(pubsub, topic, bodies, metadata)
        except PubSubError as exc:
            await context.abort(exc.grpc_code, exc.message)
        return pubsub_pb2.BulkPublishResponse(failedEntries=[])

    async def GetMetadata(
        self, request: metadata_pb2.GetMetadataRequest, context: grpc.aio.ServicerContext
    ) -> metadata_pb2.GetMetadataResponse:
        return metadata_response(self._metadata(), self._pubsub)


def metadata_response(
    meta: dict[str, Any], pubsub: PubSubEngine
) -> metadata_pb2.GetMetadataResponse:
    """The gRPC form of daprd's /v1.0/metadata JSON."""
    actor_runtime = meta.get("actorRuntime") or {}
    connection = meta.get("appConnectionProperties") or {}
    subscriptions = meta.get("subscriptions", pubsub.describe_subscriptions())
    return metadata_pb2.GetMetadataResponse(
        id=meta.get("id", ""),
        runtime_version=meta.get("runtimeVersion", ""),
        enabled_features=meta.get("enabledFeatures", []),
        extended_metadata={str(k): str(v) for k, v in (meta.get("extended") or {}).items()},
        active_actors_count=[
            metadata_pb2.ActiveActorsCount(type=a["type"], count=a["count"])
            for a in meta.get("actors", [])
        ],
        registered_components=[
            metadata_pb2.RegisteredComponents(
                name=c["name"],
                type=c["type"],
                version=c.get("version", ""),
                capabilities=c.get("capabilities", []),
            )
            for c in meta.get("components", [])
        ],
        subscriptions=[
            metadata_pb2.PubsubSubscription(
                pubsub_name=s["pubsubname"],
                topic=s["topic"],
                metadata=s.get("metadata", {}),
                rules=metadata_pb2.PubsubSubscriptionRules(
                    rules=[
                        metadata_pb2.PubsubSubscriptionRule(match=r["match"], path=r["path"])
                        for r in s.get("rules", [])
                    ]
                ),
                dead_letter_topic=s.get("deadLetterTopic", ""),
                type=metadata_pb2.PubsubSubscriptionType.Value(s.get("type", "PROGRAMMATIC")),
            )
            for s in subscriptions
        ],
        app_connection_properties=metadata_pb2.AppConnectionProperties(
            port=connection.get("port", 0),
            protocol=connection.get("protocol", ""),
            channel_address=connection.get("channelAddress", ""),
        ),
        actor_runtime=metadata_pb2.ActorRuntime(
            runtime_status=metadata_pb2.ActorRuntime.ActorRuntimeStatus.Value(
                actor_runtime.get("runtimeStatus", "INITIALIZING")
            ),
            active_actors=[
                metadata_pb2.ActiveActorsCount(type=a["type"], count=a["count"])
                for a in actor_runtime.get("activeActors", [])
            ],
            host_ready=actor_runtime.get("hostReady", False),
            placement=actor_runtime.get("placement", ""),
        ),
    )
