"""A step run every `interval` in the background, until stopped: the housekeeping, the
metrics sampler, the saga runs' and the reminders' reconciles, the bulk actions. A failing
step is logged and tried again at the next turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

log = logging.getLogger(__name__)


class Periodic:
    def __init__(
        self,
        name: str,
        interval: timedelta,
        step: Callable[[], Awaitable[None]],
        *,
        wait_first: bool = False,
    ) -> None:
        """`wait_first`: the first step one interval after start, not at once (a reconcile
        that every replica would otherwise run on every restart)."""
        self.name, self.interval, self.step = name, interval, step
        self.wait_first = wait_first
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self.wait_first:
            await asyncio.sleep(self.interval.total_seconds())
        while True:
            try:
                await self.step()
            except Exception:  # the database is away, say: try again next time
                log.exception("%s failed", self.name)
            await asyncio.sleep(self.interval.total_seconds())  # a schedule, not a wait
