"""Events end to end: commit -> outbox relay -> dev sidecar (Kafka on Tansu by default;
TICKLER_BENCH_PUBSUB=postgres for its PostgreSQL transport) -> consumers.

    .venv/bin/python -m bench.events [--changes 200] [--burst 1000]

Phase 1 (latency): `--changes` tasks created one after another while an SSE client listens on
/v1/stream; reports create-request-start -> event-on-the-stream p50/p95/p99 (target: under 1 s).
Phase 2 (throughput): `--burst` tasks created by 16 concurrent callers; reports the time until
every event is published and handled by every consumer (audit, notifier, live), as events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import date

import asyncpg
import httpx

from api.auth import issue_token
from bench._common import percentile
from bench._stack import PUBSUB, SECRET, start_stack
from devstack.processes import eventually

CONCURRENCY = 16


def client(base: str, user: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {issue_token(SECRET, user)}"}
    return httpx.AsyncClient(base_url=base, headers=headers, timeout=60)


async def stream_latency(base: str, changes: int) -> list[float]:
    latencies: list[float] = []
    async with (
        client(base, "bench-live") as reader,
        client(base, "bench-live") as writer,
        reader.stream("GET", "/v1/stream") as response,
    ):
        lines = response.aiter_lines()
        async for line in lines:
            if line.startswith(": listening"):
                break
        for n in range(changes):
            began = time.perf_counter()
            r = await writer.post("/v1/tasks", json={"title": f"live {n}"})
            task_id = r.json()["id"]
            async for line in lines:
                if line.startswith("data:") and json.loads(line[5:])["task_id"] == task_id:
                    break
            latencies.append(time.perf_counter() - began)
    return latencies


async def burst(base: str, url: str, count: int) -> tuple[float, float, float]:
    """Seconds until the creates returned, every event was published, and every event was
    handled by every consumer."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker(c: httpx.AsyncClient) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            (await c.post("/v1/tasks", json={"title": f"burst {n}"})).raise_for_status()

    conn = await asyncpg.connect(url)
    try:
        began = time.perf_counter()
        async with client(base, "bench-burst") as c:
            await asyncio.gather(*(worker(c) for _ in range(CONCURRENCY)))
        created = time.perf_counter() - began
        await eventually(lambda: _none_left(conn), within=600, what="the burst published")
        published = time.perf_counter() - began
        await eventually(lambda: _all_handled(conn, count), within=600, what="the burst handled")
        return created, published, time.perf_counter() - began
    finally:
        await conn.close()


async def _none_left(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval(
        "SELECT count(*) FROM outbox WHERE user_id = 'bench-burst' AND published_at IS NULL"
    )


async def _all_handled(conn: asyncpg.Connection, count: int) -> bool:
    handled = await conn.fetchval(
        "SELECT count(*) FROM processed_events p JOIN outbox o USING (event_id)"
        " WHERE o.user_id = 'bench-burst'"
    )
    return handled >= 3 * count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    pair, url = start_stack("events")
    base = f"http://127.0.0.1:{pair.app_port}"
    try:
        lat = asyncio.run(stream_latency(base, args.changes))
        created, published, handled = asyncio.run(burst(base, url, args.burst))
    finally:
        pair.stop()
    ms = [x * 1000 for x in lat]
    p95 = percentile(ms, 0.95)
    print(f"### Events: outbox -> pub/sub -> consumers ({date.today().isoformat()})\n")
    print(
        f"- command: `.venv/bin/python bench/events.py --changes {args.changes} "
        f"--burst {args.burst}`"
    )
    transport = "pubsub.postgresql" if PUBSUB == "postgres" else "pubsub.kafka on Tansu"
    print(f"- machine: {os.cpu_count()} cores; dev sidecar, {transport}")
    print(
        f"- create -> SSE stream ({len(ms)} changes, one at a time): p50 "
        f"{statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, p99 {percentile(ms, 0.99):.0f} ms, "
        f"max {max(ms):.0f} ms (target < 1000 ms) {'PASS' if max(ms) < 1000 else 'MISS'}"
    )
    print(
        f"- burst of {args.burst} creates ({CONCURRENCY} callers): created in {created:.1f} s, "
        f"all published after {published:.1f} s, handled by 3 consumers after {handled:.1f} s "
        f"({args.burst / handled:.0f} events/s end to end)"
    )


if __name__ == "__main__":
    main()
