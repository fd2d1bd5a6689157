"""sidecar.clock: reminders and timers run on real time plus the dev offset file, and a wait
ends soon after the file moves the clock past its instant."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sidecar import clock


@pytest.fixture
def offset_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "clock"
    clock.use_offset_file(path)
    yield path
    clock.use_offset_file(None)


def write(path: Path, seconds: float, stamp: int) -> None:
    path.write_text(str(seconds))
    os.utime(path, ns=(stamp, stamp))


def test_without_a_file_it_is_real_time() -> None:
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_it_adds_the_files_offset(offset_file: Path) -> None:
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)  # no file yet
    write(offset_file, 3600, 1)
    assert timedelta(minutes=59) < clock.now() - datetime.now(UTC) < timedelta(minutes=61)


async def test_a_wait_ends_when_the_clock_is_moved_past_it(offset_file: Path) -> None:
    write(offset_file, 0, 1)
    instant = clock.now() + timedelta(hours=1)

    async def wait() -> None:
        while clock.now() < instant:
            await clock.sleep_until(instant)

    waiting = asyncio.create_task(wait())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    write(offset_file, 3601, 2)
    await asyncio.wait_for(waiting, 5)


async def test_a_wake_event_ends_the_wait(offset_file: Path) -> None:
    wake = asyncio.Event()
    waiting = asyncio.create_task(clock.sleep_until(clock.now() + timedelta(hours=1), wake))
    await asyncio.sleep(0)
    wake.set()
    await asyncio.wait_for(waiting, 5)
