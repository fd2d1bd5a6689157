"""Reminder firing: one task watches a heap of next fire times; deliveries run bounded.

The table is the truth and the heap a cache of it, loaded at start. A tick is recorded in
PostgreSQL only after the app accepted it, so a crash between the two re-delivers the tick
after restart (at least once), and a reminder that fell due while the sidecar was down fires
once when it comes back.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from datetime import UTC, datetime

from sidecar import clock
from sidecar.actors.channel import ActorChannel, AppCallFailed, AppUnreachable
from sidecar.actors.placement import ActorTable
from sidecar.actors.reminders import Reminder, ReminderKey, ReminderStore

log = logging.getLogger(__name__)

MAX_CONCURRENT_DELIVERIES = 64
APP_UNREACHABLE_BACKOFF = 5.0  # seconds, at most, between tries while the app is down


class ReminderScheduler:
    def __init__(self, store: ReminderStore, table: ActorTable, app: ActorChannel) -> None:
        self._store = store
        self._table = table
        self._app = app
        self._heap: list[tuple[float, int, Reminder]] = []
        self._current: dict[ReminderKey, Reminder] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_DELIVERIES)
        self._deliveries: set[asyncio.Task] = set()
        self._loop: asyncio.Task | None = None

    async def start(self, actor_types: frozenset[str]) -> None:
        for reminder in await self._store.load(actor_types):
            self._schedule(reminder)
        self._loop = asyncio.create_task(self._run(), name="reminder-scheduler")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def register(self, reminder: Reminder) -> None:
        await self._store.save(reminder)
        self._schedule(reminder)

    async def unregister(self, key: ReminderKey) -> None:
        await self._store.delete(key)
        self._current.pop(key, None)

    def get(self, key: ReminderKey) -> Reminder | None:
        return self._current.get(key)

    def _schedule(self, reminder: Reminder) -> None:
        self._current[reminder.key] = reminder
        entry = (reminder.next_fire_at.timestamp(), next(self._seq), reminder)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self._heap:
                await self._wake.wait()
                continue
            earliest = datetime.fromtimestamp(self._heap[0][0], UTC)
            if earliest > clock.now():
                # Woken early by a sooner reminder, or the wait is over: look again.
                await clock.sleep_until(earliest, self._wake)
                continue
            _, _, reminder = heapq.heappop(self._heap)
            if self._current.get(reminder.key) is not reminder:
                continue  # re-registered or deleted since it was queued
            await self._slots.acquire()
            task = asyncio.create_task(self._tick(reminder))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _tick(self, reminder: Reminder) -> None:
        try:
            if reminder.expires_at is not None and reminder.next_fire_at > reminder.expires_at:
                await self._finish(reminder, None)
                return
            await self._deliver(reminder)
            now = clock.now()
            await self._finish(reminder, reminder.after_tick(reminder.next_fire_at, now))
        finally:
            self._slots.release()

    async def _finish(self, reminder: Reminder, following: Reminder | None) -> None:
        if self._current.get(reminder.key) is not reminder:
            return  # re-registered or deleted while it was being delivered
        if following is None:
            del self._current[reminder.key]
            await self._store.finish(reminder)
        else:
            self._schedule(following)
            await self._store.advance(following)

    async def _deliver(self, reminder: Reminder) -> None:
        """One tick: the first try and the failure policy's retries."""
        policy = reminder.failure_policy
        failures = 0
        unreachable_delay = 0.1
        path = f"/actors/{reminder.actor_type}/{reminder.actor_id}/method/remind/{reminder.name}"
        body = reminder.app_body()
        headers = {"content-type": "application/json"}
        while True:
            try:
                reply = await self._table.turn(
                    reminder.actor_type,
                    reminder.actor_id,
                    lambda: self._app.call("PUT", path, body, headers),
                )
                outcome = f"app answered {reply.status}"
                if 200 <= reply.status < 300:
                    return
            except AppCallFailed as exc:
                outcome = str(exc)
            except AppUnreachable as exc:
                # The app is down, not failing: wait for it without spending the retries.
                log.warning("reminder %s: app unreachable (%s)", path, exc)
                await self._pause(unreachable_delay)
                unreachable_delay = min(unreachable_delay * 2, APP_UNREACHABLE_BACKOFF)
                continue
            failures += 1
            log.warning("reminder %s: %s (failure %d)", path, outcome, failures)
            if policy.max_retries is not None and failures > policy.max_retries:
                return  # this tick is given up; the next one is still scheduled
            await self._pause(policy.interval.total_seconds())

    async def _pause(self, seconds: float) -> None:
        """Wait between tries without holding a delivery slot others could use."""
        self._slots.release()
        try:
            await asyncio.sleep(seconds)  # retry interval / backoff
        finally:
            await self._slots.acquire()
