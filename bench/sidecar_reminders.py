"""Reminder scheduling at scale through the dev sidecar.

Registers `--reminders` one-shot reminders (default 10,000) over `--actors` actors, due at
RFC 3339 instants spread evenly over one `--window` (default 60 s) that opens `--lead`
seconds after the start, so registration is done before the first one is due. Registration
uses the SDK's actor HTTP client (`DaprActorHttpClient.register_reminder`, the call
`Actor.register_reminder` makes). The app (devstack/apps/actors_app.py)
records when each reminder reached the actor; lateness = arrival - due time (same clock).

  .venv/bin/python -m bench.sidecar_reminders [--reminders 10000] [--window 60] [--lead 40]

Targets: lateness p99 < 1 s, 0 missed, 0 duplicates.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from dapr.clients.http.dapr_actor_http_client import DaprActorHttpClient
from dapr.serializers import DefaultJSONSerializer

from bench._common import bench_database, percentile
from devstack.actor_pair import actor_pair, events, release_sdk
from devstack.processes import wait_until


async def register_all(count: int, actors: int, opens_at: float, window: float) -> float:
    client = DaprActorHttpClient(DefaultJSONSerializer())
    slots = asyncio.Semaphore(32)

    async def register(i: int) -> None:
        due = opens_at + window * i / count
        body = {
            "dueTime": datetime.fromtimestamp(due, UTC).isoformat().replace("+00:00", "Z"),
            "period": None,
            "data": base64.b64encode(json.dumps({"due": due}).encode()).decode(),
        }
        async with slots:
            await client.register_reminder(
                "CounterActor", f"bench-{i % actors}", f"r{i}", json.dumps(body).encode()
            )

    started = time.monotonic()
    await asyncio.gather(*(register(i) for i in range(count)))
    return time.monotonic() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--actors", type=int, default=1000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--lead", type=float, default=40.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    database = await bench_database(workdir / "pg", "bench_reminders", fresh=True, migrated=False)
    pair = actor_pair(workdir, database, "dev")
    pair.start()
    try:
        opens_at = time.time() + args.lead
        took = await register_all(args.reminders, args.actors, opens_at, args.window)
        print(f"registered {args.reminders} reminders in {took:.1f} s", flush=True)
        if time.time() > opens_at:
            print("WARNING: registration overran the lead; early reminders start late")

        def all_arrived() -> bool:
            return len(events(pair, kind="reminder")) >= args.reminders

        closes_at = opens_at + args.window
        try:
            wait_until(all_arrived, timeout=closes_at - time.time() + 30, what="all reminders")
        except TimeoutError:
            print("not every reminder arrived in time")
        # Let any duplicate show up: the sidecar has deleted every delivered one-shot row.
        conn = await asyncpg.connect(database)
        try:
            wait_until_empty = time.monotonic() + 30
            while time.monotonic() < wait_until_empty:
                left = await conn.fetchval("SELECT count(*) FROM dapr_reminders")
                if left == 0:
                    break
                await asyncio.sleep(0.2)  # polling another process's table
        finally:
            await conn.close()
        arrived = events(pair, kind="reminder")
        attempts = events(pair, kind="reminder-attempt")
        async with httpx.AsyncClient() as client:
            metadata = await client.get(f"http://127.0.0.1:{pair.http_port}/v1.0/metadata")
        stats = metadata.json()
    finally:
        pair.stop()
        release_sdk()

    per_name = Counter(e["name"] for e in attempts)
    lateness = [e["at"] - e["data"]["due"] for e in arrived]
    missed = args.reminders - len(per_name)
    duplicates = sum(n - 1 for n in per_name.values())
    print(
        f"{args.reminders} reminders due over {args.window:.0f} s on {args.actors} actors: "
        f"lateness p50 {percentile(lateness, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(lateness, 0.99) * 1000:.0f} ms, max {max(lateness) * 1000:.0f} ms; "
        f"missed {missed}, duplicates {duplicates}, rows left {left}; "
        f"active actors {stats['actorRuntime']['activeActors']}"
    )


if __name__ == "__main__":
    asyncio.run(main())
