"""The JSON serializer for actor messages and state: plain JSON, written and read by orjson.

The SDK's DefaultJSONSerializer decodes with a pure-Python scanner and runs dateutil on every
string that starts like a date; a turn that saves state also round-trips the value through it
to refresh its cache. For a user's reminder schedule that was the largest cost of an actor
turn. This one writes the same JSON (durations in Dapr's `0h0m5s0ms` form, bytes as base64)
and reads it back as plain JSON: callers parse the times they expect (`actors.deps.instant`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from dapr.actor.runtime.config import ActorRuntimeConfig
from dapr.serializers import Serializer
from dapr.serializers.util import convert_to_dapr_duration


def _default(obj: Any) -> Any:
    if isinstance(obj, timedelta):
        return convert_to_dapr_duration(obj)
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode()
    if isinstance(obj, ActorRuntimeConfig):
        return obj.as_dict()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


class PlainJSONSerializer(Serializer):
    def serialize(self, obj: object, custom_hook: Callable[[object], bytes] | None = None) -> bytes:
        if callable(custom_hook):
            obj = custom_hook(obj)
        elif isinstance(obj, bytes):  # as the SDK's: a bytes payload travels as base64
            obj = base64.b64encode(obj).decode()
        return orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS)

    def deserialize(
        self,
        data: bytes,
        data_type: type | None = object,
        custom_hook: Callable[[bytes], object] | None = None,
    ) -> Any:
        if not isinstance(data, (str, bytes)):
            raise ValueError("data must be str or bytes")
        obj = orjson.loads(data)
        return custom_hook(obj) if callable(custom_hook) else obj


SERIALIZER = PlainJSONSerializer()
