"""The app's clock when TICKLER_DEV_CLOCK_FILE is set (tests only; production refuses it): real
time plus an offset in seconds read from that file, the same file the dev sidecar's
`--dev-clock-file` reads, so both sides see reminders fall due at the same moment."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


class OffsetFileClock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime_ns: int | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        try:
            mtime = os.stat(self._path).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime is not None and mtime != self._mtime_ns:
            self._mtime_ns = mtime
            self._offset = timedelta(seconds=float(self._path.read_text() or 0))
        return datetime.now(UTC) + self._offset
