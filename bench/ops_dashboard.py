"""The operators' dashboard over 100,000 saga runs.

Measures, against a real app process (uvicorn, no sidecar) on a seeded `bench_ops` database:
  (a) the filtered sagas list, 50 rows: the server's time per request (the app's own
      Server-Timing-free way: wall time of sequential requests on loopback, which is server
      time plus a loopback round trip), for several filter shapes;
  (b) the bytes a page load transfers (HTML + stylesheet + script), and that it asks for
      nothing outside the app;
  (c) how long a status change takes to reach an open page's live feed (SSE).

  .venv/bin/python -m bench.ops_dashboard [--runs 100000] [--requests 200] [--changes 50]

Targets: (a) p95 < 50 ms; (b) < 300 KB, no external requests; (c) p95 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from api.auth import OPERATOR, issue_token
from bench._common import (
    DEFAULT_DATA_DIR,
    bench_database,
    command_line,
    machine,
    markdown_table,
    now_stamp,
    percentile,
    verdict,
)
from devstack.processes import Proc, free_port, http_ok, wait_until

SECRET = "bench-ops-secret-0123456789abcdefghijkl"
STATUSES = ["completed"] * 90 + ["failed"] * 6 + ["running"] * 2 + ["terminated", "suspended"]
START = datetime(2026, 11, 1, tzinfo=UTC)


async def seed(url: str, runs: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT count(*) FROM saga_runs") == runs:
            return
        await conn.execute("TRUNCATE saga_runs")
        rng = random.Random(11)
        rows = []
        for n in range(runs):
            status = rng.choice(STATUSES)
            started = START + timedelta(seconds=n * 25)  # a month of runs
            failed = status == "failed"
            rows.append(
                (
                    f"complete-{uuid.UUID(int=rng.getrandbits(128))}",
                    "skip" if rng.random() < 0.1 else "complete",
                    f"user-{rng.randrange(1000)}",
                    uuid.UUID(int=rng.getrandbits(128)),
                    uuid.UUID(int=rng.getrandbits(128)),
                    status,
                    1,
                    None,
                    started,
                    started + timedelta(seconds=1),
                    started + timedelta(seconds=1) if status != "running" else None,
                    "advance" if status == "running" else None,
                    rng.choice(["series actor timed out", "refused by a trigger"])
                    if failed
                    else None,
                    "advance" if failed else None,
                    None,
                )
            )
        await conn.copy_records_to_table(
            "saga_runs",
            records=rows,
            columns=[
                "instance_id", "kind", "user_id", "task_id", "series_id", "status", "attempt",
                "retry_of", "started_at", "updated_at", "finished_at", "step", "failure_message",
                "failure_step", "next_task_id",
            ],
        )  # fmt: skip
        await conn.execute("ANALYZE saga_runs")
    finally:
        await conn.close()


def start_app(url: str) -> tuple[Proc, str]:
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        TICKLER_JWT_SECRET=SECRET,
        TICKLER_ENV="test",
        TICKLER_RATE_LIMIT_PER_S="0",  # one operator, far past a person's rate, on purpose
    )
    env.pop("DAPR_HTTP_PORT", None)
    argv = [sys.executable, "-m", "uvicorn", "api.main:app_from_env", "--factory",
            "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = Proc("app", argv, env, DEFAULT_DATA_DIR.parent / "ops-app.log").start()
    base = f"http://127.0.0.1:{port}"
    wait_until(http_ok(f"{base}/healthz"), what="the app")
    return proc, base


SHAPES = {
    "no filter": {},
    "status=failed": {"status": "failed"},
    "status=failed + failure text": {"status": "failed", "failure": "timed out"},
    "user": {"user": "user-7"},
    "status=running + kind=complete": {"status": "running", "kind": "complete"},
    "time window": {
        "started_after": "2026-11-10T00:00:00Z",
        "started_before": "2026-11-12T00:00:00Z",
    },
}


async def list_latency(base: str, token: str, requests: int) -> list[list[str]]:
    rows = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        for name, params in SHAPES.items():
            for _ in range(20):  # warm-up: plans, pool, caches
                await client.get("/v1/ops/sagas", params=params)
            took = []
            for _ in range(requests):
                t0 = time.perf_counter()
                r = await client.get("/v1/ops/sagas", params=params)
                took.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
            p95 = percentile(took, 0.95) * 1000
            rows.append(
                [name, f"{percentile(took, 0.5) * 1000:.1f}", f"{p95:.1f}", verdict(p95 < 50)]
            )
    return rows


async def page_weight(base: str, token: str) -> tuple[int, list[str]]:
    """Bytes of one page load (the page and everything it references), and any reference
    that leaves the app."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as browser:
        await browser.get("/ops/login", params={"token": token})
        page = await browser.get("/ops/sagas", params={"status": "failed"})
        refs = re.findall(r'(?:src|href)="([^"#]+)"', page.text)
        external = [r for r in refs if re.match(r"^(https?:)?//", r)]
        total = len(page.content)
        for ref in {r for r in refs if r.startswith("/ops/static/")}:
            total += len((await browser.get(ref)).content)
    return total, external


async def change_latency(base: str, url: str, token: str, changes: int) -> list[float]:
    """Seconds from a run's status change (committed) to its event on the live feed."""
    conn = await asyncpg.connect(url)
    seen: dict[str, float] = {}
    done = asyncio.Event()
    ids = [r[0] for r in await conn.fetch("SELECT instance_id FROM saga_runs LIMIT $1", changes)]

    async def listen() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=None) as browser:
            await browser.get("/ops/login", params={"token": token})
            page = await browser.get("/ops/sagas")
            feed = re.search(r'data-feed="([^"]+)"', page.text)[1].replace("&amp;", "&")
            async with browser.stream("GET", feed) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        run = json.loads(line[5:])
                        seen.setdefault(run["instance_id"], time.perf_counter())
                        if len(seen) >= changes:
                            done.set()
                            return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(1.0)  # the feed is open
    sent: dict[str, float] = {}
    for instance in ids:
        await conn.execute(
            "UPDATE saga_runs SET status = 'failed', updated_at = now() WHERE instance_id = $1",
            instance,
        )
        sent[instance] = time.perf_counter()
        await asyncio.sleep(0.05)
    await asyncio.wait_for(done.wait(), 30)
    listener.cancel()
    await conn.close()
    return [seen[i] - sent[i] for i in ids]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    url = await bench_database(DEFAULT_DATA_DIR, "bench_ops", fresh=False)
    await seed(url, args.runs)
    proc, base = start_app(url)
    token = issue_token(SECRET, "bench-ops", roles=[OPERATOR])
    try:
        rows = await list_latency(base, token, args.requests)
        weight, external = await page_weight(base, token)
        lags = await change_latency(base, url, token, args.changes)
    finally:
        proc.stop()
    lag_p95 = percentile(lags, 0.95)
    print(f"### Operators' dashboard over {args.runs:,} saga runs (bench/ops_dashboard.py)\n")
    print(f"- Command: `{command_line()}`\n- Machine: {machine()}\n- Date: {now_stamp()}")
    print(
        f"- (a) GET /v1/ops/sagas, 50 rows and the counts per status, {args.requests} "
        "sequential requests per shape after 20 warm-up, wall time on loopback\n"
    )
    print(markdown_table(["filter", "p50 ms", "p95 ms", "p95 < 50 ms"], rows))
    print(
        f"\n- (b) one page load (/ops/sagas?status=failed, its stylesheet and script): "
        f"{weight / 1024:.1f} KB, {len(external)} external references: "
        f"{verdict(weight < 300 * 1024 and not external)}"
    )
    print(
        f"- (c) status change to the open page's feed, {args.changes} changes: p50 "
        f"{percentile(lags, 0.5) * 1000:.0f} ms, p95 {lag_p95 * 1000:.0f} ms: "
        f"{verdict(lag_p95 < 1.0)}"
    )


if __name__ == "__main__":
    asyncio.run(main())
