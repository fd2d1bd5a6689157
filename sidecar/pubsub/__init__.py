"""Pub/sub for the dev sidecar: daprd's publish API, CloudEvents, and delivery to the app."""

from sidecar.pubsub.engine import PubSubEngine
from sidecar.pubsub.errors import PubSubError, UnknownPubSub

__all__ = ["PubSubEngine", "PubSubError", "UnknownPubSub"]
