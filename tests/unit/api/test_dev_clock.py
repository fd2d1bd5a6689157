"""api.dev_clock: the app's clock follows the offset file that tests rewrite."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.dev_clock import OffsetFileClock


def write(path: Path, seconds: float, mtime_ns: int) -> None:
    path.write_text(str(seconds))
    os.utime(path, ns=(mtime_ns, mtime_ns))  # a new stamp, even within the same tick


def test_without_the_file_it_is_real_time(tmp_path: Path) -> None:
    clock = OffsetFileClock(tmp_path / "clock")
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_it_adds_the_offset_and_follows_each_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    clock = OffsetFileClock(path)
    write(path, 3600, 1)
    assert timedelta(minutes=59) < clock.now() - datetime.now(UTC) < timedelta(minutes=61)
    write(path, 7200, 2)
    assert timedelta(minutes=119) < clock.now() - datetime.now(UTC) < timedelta(minutes=121)
