"""The whole stack for the end-to-end benchmarks: a fresh migrated database (embedded, or
on DATABASE_URL's server), the dev sidecar and the app, as `make dev` runs them."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench._common import (  # noqa: E402
    bench_database,
    machine,
    postmaster_pid,
    process_cpu,
    server_tree_cpu,
)
from store.database import plain_url  # noqa: E402
from tests.harness import DaprPair  # noqa: E402
from tests.integration.stack import app_pair  # noqa: E402

__all__ = ["SECRET", "machine", "start_stack"]

SECRET = "bench-secret-0123456789abcdefghijklmnop"


def start_stack(name: str) -> tuple[DaprPair, str]:
    """Started pair and its database URL; the caller stops the pair."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    url = asyncio.run(bench_database(work / "pg", f"bench_{name}", fresh=True))
    pair = app_pair(url, SECRET, ROOT / "components" / "local", work)
    pair.start()
    return pair, url


class CpuMeter:
    """CPU seconds spent by the app, the sidecar and the PostgreSQL server (postmaster and
    backends, when it runs on this machine) between `start()` and `stop()`."""

    def __init__(self, pair: DaprPair, database_url: str) -> None:
        self._processes = {"app": pair.app.popen.pid, "sidecar": pair.sidecar.popen.pid}
        self._postmaster = asyncio.run(postmaster_pid(plain_url(database_url)))
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        totals = {name: process_cpu(pid) for name, pid in self._processes.items()}
        if self._postmaster is not None:
            totals["postgres"] = server_tree_cpu(self._postmaster)
        return totals

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        end = self._now()
        return {name: end[name] - self._start[name] for name in end}


async def drained(database_url: str, patience: float = 300.0) -> None:
    """Wait until every outbox event is published and every subscription has handled every
    message (the dev sidecar's PostgreSQL pub/sub): a measurement that starts earlier pays
    for the setup's event backlog."""
    query = """
        SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL)
             + (SELECT count(*) FROM dapr_pubsub_messages m
                JOIN dapr_pubsub_cursors c ON c.topic = m.topic AND c.pubsub = m.pubsub
                WHERE m.id > c.position)
    """
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        deadline = asyncio.get_running_loop().time() + patience
        while await conn.fetchval(query):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the event backlog did not drain")
            await asyncio.sleep(0.2)  # polling a condition, not a guess at a duration
    finally:
        await conn.close()
