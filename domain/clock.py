"""Time as a dependency, so tests can freeze or advance it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
