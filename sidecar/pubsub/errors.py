"""Pub/sub API errors with daprd's codes: HTTP status, gRPC status, legacy tag, reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc


@dataclass
class PubSubError(Exception):
    message: str
    error_code: str  # daprd's legacy tag, the HTTP body's `errorCode`
    reason: str  # the google.rpc.ErrorInfo reason
    http_status: int
    grpc_code: grpc.StatusCode

    def __str__(self) -> str:
        return self.message

    def http_body(self) -> dict[str, Any]:
        return {
            "errorCode": self.error_code,
            "message": self.message,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "dapr.io",
                    "metadata": {},
                }
            ],
        }


class UnknownPubSub(PubSubError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"pubsub {name} is not found",
            "ERR_PUBSUB_NOT_FOUND",
            "DAPR_PUBSUB_NOT_FOUND",
            404,
            grpc.StatusCode.INVALID_ARGUMENT,
        )


def pubsub_not_configured(name: str) -> PubSubError:
    return PubSubError(
        f"pubsub {name} is not configured",
        "ERR_PUBSUB_NOT_CONFIGURED",
        "DAPR_PUBSUB_NOT_CONFIGURED",
        400,
        grpc.StatusCode.FAILED_PRECONDITION,
    )


def pubsub_name_empty() -> PubSubError:
    return PubSubError(
        "pubsub name is empty",
        "ERR_PUBSUB_EMPTY",
        "DAPR_PUBSUB_NAME_EMPTY",
        404,
        grpc.StatusCode.INVALID_ARGUMENT,
    )


def topic_empty(name: str) -> PubSubError:
    return PubSubError(
        f"topic is empty in pubsub {name}",
        "ERR_TOPIC_EMPTY",
        "DAPR_PUBSUB_TOPIC_NAME_EMPTY",
        404,
        grpc.StatusCode.INVALID_ARGUMENT,
    )


def cloud_event_creation() -> PubSubError:
    return PubSubError(
        "cannot create cloudevent",
        "ERR_PUBSUB_CLOUD_EVENTS_SER",
        "DAPR_PUBSUB_CLOUD_EVENT_CREATION",
        500,
        grpc.StatusCode.INVALID_ARGUMENT,
    )


def publish_failed(name: str, topic: str, exc: Exception) -> PubSubError:
    return PubSubError(
        f"error when publishing to topic {topic} in pubsub {name}: {exc}",
        "ERR_PUBSUB_PUBLISH_MESSAGE",
        "DAPR_PUBSUB_PUBLISH_MESSAGE",
        500,
        grpc.StatusCode.INTERNAL,
    )


# Bulk publish (pkg/api/errors/pubsub.go, codes in pkg/messages/errorcodes/errorcodes.go)


def metadata_deserialize(err: Exception) -> PubSubError:
    return PubSubError(
        f"failed deserializing metadata. Error: {err}",
        "ERR_PUBSUB_REQUEST_METADATA",
        "DAPR_PUBSUB_METADATA_DESERIALIZATION",
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
    )


def unmarshal_events(name: str, topic: str, err: Exception) -> PubSubError:
    """The HTTP bulk body does not decode (only in pkg/api/http)."""
    return PubSubError(
        f"error when unmarshaling the request for topic {topic} pubsub {name}: {err}",
        "ERR_PUBSUB_EVENTS_SER",
        "DAPR_PUBSUB_UNMARSHAL_EVENTS",
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
    )


def marshal_envelope(name: str, topic: str, err: Exception | str) -> PubSubError:
    """An HTTP bulk entry's `event` does not fit its `contentType`."""
    return PubSubError(
        f"error when marshalling cloud event envelope for topic {topic} pubsub {name}: {err}",
        "ERR_PUBSUB_EVENTS_SER",
        "DAPR_PUBSUB_MARSHAL_ENVELOPE",
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
    )


def marshal_events_entry_id(name: str, topic: str) -> PubSubError:
    """A bulk entry's `entryId` is empty or repeats an earlier one."""
    return PubSubError(
        f"error marshaling events to bytes for topic {topic} pubsub {name}. "
        "error: entryId is duplicated or not present for entry",
        "ERR_PUBSUB_EVENTS_SER",
        "DAPR_PUBSUB_MARSHAL_EVENTS",
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
    )


class BulkPublishFailed(PubSubError):
    """Some entries were not published: daprd's PublishMessage error, plus the failed entries
    (HTTP returns them in its 500 body; gRPC returns only the status)."""

    def __init__(self, name: str, topic: str, error: str, failed: list[tuple[str, str]]) -> None:
        super().__init__(
            f"error when publishing to topic {topic} in pubsub {name}: {error}",
            "ERR_PUBSUB_PUBLISH_MESSAGE",
            "DAPR_PUBSUB_PUBLISH_MESSAGE",
            500,
            grpc.StatusCode.INTERNAL,
        )
        self.failed = failed
