"""IANA time zones: the one loader for the whole domain, and wall clock -> UTC.

Tasks, reminders and recurrence rules all name a zone, so the loader lives here rather than
in the recurrence package.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import ValidationFailed


@lru_cache(maxsize=512)
def _cached_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def load_zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone `name`, or ValidationFailed on `field`."""
    try:
        return _cached_zone(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValidationFailed.field(field, f"unknown IANA time zone {name!r}") from exc


def to_utc(local: datetime, timezone: str) -> datetime:
    """Wall clock -> aware UTC. fold=0 moves a DST-gap time forward by the gap and gives an
    ambiguous time its first offset."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    return local.replace(tzinfo=load_zone(timezone), fold=0).astimezone(UTC)
