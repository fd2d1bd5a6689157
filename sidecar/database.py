"""asyncpg pools, one per connection string, and retries across a database restart."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

log = logging.getLogger(__name__)
T = TypeVar("T")

_pools: dict[str, asyncpg.Pool] = {}
_lock = asyncio.Lock()

# Errors after which the same statement can succeed on a fresh connection. InternalClientError
# is among them: a server restart sends FATAL to idle pooled connections, and the first query
# on such a connection, before asyncpg has seen the socket close, fails with "cannot switch to
# state 15; another operation (2) is in progress" (the protocol is still consuming the error).
TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    ConnectionError,
    OSError,
)


def _terminate_when_broken(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(method)
    async def guarded(self: _Connection, *args: Any, **kwargs: Any) -> T:
        try:
            return await method(self, *args, **kwargs)
        except asyncpg.DataError:
            raise  # a bad argument, refused before anything was sent: the connection is fine
        except TRANSIENT:
            # The protocol may be mid-error or the socket half-closed. Releasing the
            # connection would hand it to the next caller (the pool's reset is a no-op,
            # below); terminating makes the pool open a fresh one instead.
            self.terminate()
            raise

    return guarded


class _Connection(asyncpg.Connection):
    """No session state outlives a checkout here (advisory locks are per transaction; no
    LISTEN, no SET, no cursors), so a released connection only needs asyncpg's rollback of
    an open transaction, not the four-statement reset round trip it runs by default: that
    was one extra query per pool checkout, dozens per workflow.

    That round trip was also what caught a broken connection on release, so every query
    method terminates its connection on a connection-level error instead (transactions
    begin and end through `execute`)."""

    def get_reset_query(self) -> str:
        return ""

    execute = _terminate_when_broken(asyncpg.Connection.execute)
    executemany = _terminate_when_broken(asyncpg.Connection.executemany)
    fetch = _terminate_when_broken(asyncpg.Connection.fetch)
    fetchrow = _terminate_when_broken(asyncpg.Connection.fetchrow)
    fetchval = _terminate_when_broken(asyncpg.Connection.fetchval)
    fetchmany = _terminate_when_broken(asyncpg.Connection.fetchmany)


async def pool_for(conn_str: str) -> asyncpg.Pool:
    """The shared pool for `conn_str` (a libpq URI, e.g. `postgresql://u:@/db?host=/sock`)."""
    async with _lock:
        pool = _pools.get(conn_str)
        if pool is None:
            pool = await retrying(
                lambda: asyncpg.create_pool(
                    conn_str, min_size=1, max_size=20, connection_class=_Connection
                ),
                what="connect to PostgreSQL",
            )
            _pools[conn_str] = pool
        return pool


async def close_pools() -> None:
    pools = list(_pools.values())
    _pools.clear()
    for pool in pools:
        await pool.close()


async def retrying(
    operation: Callable[[], Awaitable[T]], *, what: str, give_up_after: float = 30.0
) -> T:
    """Run `operation`, retrying while PostgreSQL is unreachable (restarting, failing over)."""
    deadline = time.monotonic() + give_up_after
    delay = 0.05
    while True:
        try:
            return await operation()
        except TRANSIENT as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("%s failed (%s); retrying", what, exc)
            await asyncio.sleep(delay)  # backoff while the server comes back
            delay = min(delay * 2, 1.0)
