"""A controllable clock: tests advance time rather than sleep through it."""

from __future__ import annotations

from datetime import datetime, timedelta


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        self._now = at

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at

    def advance(self, delta: timedelta) -> None:
        self._now += delta
