"""The periodic reminder reconcile: heals the reminders a lost Scheduler stranded.

daprd keeps actor reminders in the Scheduler's etcd, apart from actor state and from
PostgreSQL. When the Scheduler loses them (data loss, a restore from an older backup),
each ReminderScheduleActor still believes its reminder is armed, and its user's reminders
never fire. PostgreSQL is the truth, so every interval one replica asks each user with a
pending reminder to `SyncAll`, which reloads the schedule and re-registers its reminder
unconditionally. A reminder the Scheduler lost fires at most one interval late.

One replica leads: the one whose own connection holds a PostgreSQL advisory lock. The
others try for it each interval; a leader that dies ends its session, which frees the
lock, so another takes over within an interval. Users go in pages of `batch` (keyset, by
id), `concurrency` calls in flight, so a pass over many users is bounded in both the
database connections and the actor calls it holds at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg
from dapr.actor import ActorProxyFactory

from actors.clients import schedule_actor
from service import reminders as reminders_svc
from service.periodic import Periodic
from store.database import plain_url
from store.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

LOCK_KEY = 0x7469636B6C6572  # "tickler" in ASCII, as a 64-bit advisory lock key
_LOST_SESSION = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class ReminderReconciler:
    def __init__(
        self,
        interval: timedelta,
        database_url: str,
        uow_factory: UnitOfWorkFactory,
        proxies: ActorProxyFactory,
        *,
        concurrency: int = 32,
        batch: int = 1000,
    ) -> None:
        self._database_url = plain_url(database_url)
        self._uow_factory = uow_factory
        self._proxies = proxies
        self._slots = asyncio.Semaphore(concurrency)
        self._batch = batch
        self._leader: asyncpg.Connection | None = None
        self._loop = Periodic("reminder reconcile", interval, self._pass, wait_first=True)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self._resign()

    async def _pass(self) -> None:
        if await self._lead():
            await self.reconcile()

    async def _lead(self) -> bool:
        """Whether this replica leads: its session still holds the lock, or takes it now."""
        if self._leader is not None:
            try:
                # the session lives, so its lock is held
                await self._leader.fetchval("SELECT 1", timeout=10)
                return True
            except _LOST_SESSION:
                await self._resign()
        conn = await asyncpg.connect(self._database_url, timeout=10)
        try:
            leads = await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
        except BaseException:
            await conn.close()
            raise
        if not leads:
            await conn.close()
            return False
        self._leader = conn
        return True

    async def _resign(self) -> None:
        leader, self._leader = self._leader, None
        if leader is not None:
            with contextlib.suppress(*_LOST_SESSION):
                await leader.close(timeout=5)  # closing the session releases the lock

    async def reconcile(self) -> int:
        """One pass: `SyncAll` for every user with a pending reminder; returns how many
        users it synced. A user whose call fails is left for the next pass."""
        synced = failed = 0
        first_error: BaseException | None = None
        after = ""
        while True:
            users = await reminders_svc.users_with_pending(
                self._uow_factory(), after=after, limit=self._batch
            )
            outcomes = await asyncio.gather(*(self._sync(u) for u in users))
            for outcome in outcomes:
                if outcome is None:
                    synced += 1
                else:
                    failed += 1
                    first_error = first_error or outcome
            if len(users) < self._batch:
                break
            after = users[-1]
        if failed:  # one line per pass, not one per user, when the sidecar is away
            log.warning(
                "reminder reconcile: %d users synced, %d failed (first: %s: %s)",
                synced,
                failed,
                type(first_error).__name__,
                first_error,
            )
        return synced

    async def _sync(self, user_id: str) -> BaseException | None:
        async with self._slots:
            try:
                await schedule_actor(self._proxies, user_id).SyncAll()
            except Exception as exc:
                return exc
        return None
