"""The whole stack for the end-to-end benchmarks: a fresh migrated database (embedded, or
on DATABASE_URL's server), the dev sidecar and the app, as `make dev` runs them."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine  # noqa: E402
from store.database import migrate, plain_url  # noqa: E402
from store.embedded_pg import ensure_database, start_embedded  # noqa: E402
from tests.harness import DaprPair  # noqa: E402

__all__ = ["SECRET", "machine", "start_stack"]

SECRET = "bench-secret-0123456789abcdefghijklmnop"


def start_stack(name: str) -> tuple[DaprPair, str]:
    """Started pair and its database URL; the caller stops the pair."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    admin = os.environ.get("DATABASE_URL") or start_embedded(work / "pg")
    url = asyncio.run(ensure_database(admin, f"bench_{name}", fresh=True))
    migrate(url)
    pair = DaprPair(
        app_target="api.main:app_from_env",
        factory=True,
        resources_path=ROOT / "components" / "local",
        workdir=work,
        extra_env={
            "DATABASE_URL": url,
            "TICKLER_DAPR_DATABASE_URL": plain_url(url),
            "TICKLER_JWT_SECRET": SECRET,
            "TICKLER_ENV": "test",
        },
    )
    pair.start()
    return pair, url


class CpuMeter:
    """CPU seconds spent by the app, the sidecar and PostgreSQL (postmaster and backends)
    between `start()` and `stop()`: where a run's cycles went."""

    def __init__(self, pair: DaprPair) -> None:
        import psutil

        pg_dir = str(pair.workdir / "pg")
        self._psutil = psutil
        self._roots = {
            "app": psutil.Process(pair.app.popen.pid),
            "sidecar": psutil.Process(pair.sidecar.popen.pid),
        }
        for proc in psutil.process_iter(["cmdline"]):
            if pg_dir in " ".join(proc.info["cmdline"] or []):
                self._roots["postgres"] = proc
                break
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        totals = {}
        for name, root in self._roots.items():
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:
                try:
                    t = proc.cpu_times()
                except self._psutil.NoSuchProcess:
                    continue
                total += t.user + t.system + t.children_user + t.children_system
            totals[name] = total
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
    import asyncpg

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
