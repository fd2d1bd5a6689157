"""Opaque cursors for pages ordered newest first by (a time, a key): the last row's pair,
as URL-safe base64 of a JSON array. A cursor that does not decode is the caller's 422."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from domain.errors import FieldError, ValidationFailed

BAD_CURSOR = "invalid cursor; pass next_cursor back as given"


def encode_cursor(moment: datetime, key: str) -> str:
    raw = json.dumps([moment.isoformat(), key], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(key, str):
            raise ValueError("cursor time has no offset, or its key is not a string")
        return moment, key
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValidationFailed(FieldError("cursor", BAD_CURSOR)) from exc


def decode_uuid_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """A cursor whose key is a UUID (a row id)."""
    moment, key = decode_cursor(cursor)
    try:
        return moment, uuid.UUID(key)
    except ValueError as exc:
        raise ValidationFailed(FieldError("cursor", BAD_CURSOR)) from exc
