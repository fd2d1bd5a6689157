"""The time actor reminders and timers run on: real time, unless `--dev-clock-file` names a
file that holds an offset in seconds. Tests then move time forward by rewriting the file,
and reminders fall due without waiting for real time to pass. daprd has no such flag; tests
against daprd wait real time instead (devstack.clock)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

# How often a wait re-reads the clock when it can jump: an advance is seen this soon.
_POLL_S = 0.05

_path: Path | None = None
_mtime_ns: int | None = None
_offset = timedelta(0)


def use_offset_file(path: Path | None) -> None:
    global _path, _mtime_ns, _offset
    _path, _mtime_ns, _offset = path, None, timedelta(0)


def _current_offset() -> timedelta:
    global _mtime_ns, _offset
    if _path is None:
        return _offset
    try:
        mtime = os.stat(_path).st_mtime_ns
    except FileNotFoundError:
        return _offset
    if mtime != _mtime_ns:
        _mtime_ns = mtime
        _offset = timedelta(seconds=float(_path.read_text() or 0))
    return _offset


def now() -> datetime:
    return datetime.now(UTC) + _current_offset()


async def sleep_until(instant: datetime, wake: asyncio.Event | None = None) -> None:
    """Sleep until `instant` on this clock, or until `wake` is set. With an offset file the
    wait is cut into short naps, so a jump of the clock ends it."""
    delay = (instant - now()).total_seconds()
    if delay <= 0:
        return
    if _path is not None:
        delay = min(delay, _POLL_S)
    if wake is None:
        await asyncio.sleep(delay)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), delay)
