"""The test's hand on the stack's clock. On the dev sidecar, the app (TICKLER_DEV_CLOCK_FILE)
and the sidecar (--dev-clock-file) add the offset in one file to real time, so `advance`
moves both forward at once and a reminder falls due without the test waiting for it. daprd
has no such flag: against it, `advance` waits the same time out for real."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


class DevClock:
    def __init__(self, path: Path, *, controllable: bool) -> None:
        self.path = path
        self.controllable = controllable
        self._offset = timedelta(0)
        if controllable:
            self._write()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    async def advance(self, by: timedelta) -> None:
        if not self.controllable:
            await asyncio.sleep(by.total_seconds())
            return
        self._offset += by
        self._write()

    def _write(self) -> None:
        # written aside and renamed, so no reader ever sees half a number
        aside = self.path.with_suffix(".tmp")
        aside.write_text(repr(self._offset.total_seconds()))
        os.replace(aside, self.path)
