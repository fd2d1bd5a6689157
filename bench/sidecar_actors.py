"""Actor method round trip through the dev sidecar: ActorProxy -> sidecar -> app -> back.

Runs the real processes: embedded PostgreSQL (or DATABASE_URL), `python -m sidecar`, and the
actor test app (devstack/apps/actors_app.py) under uvicorn. Callers, each on
its own actor id, call `GetCount` (state cached in the app after the first call, so this
measures the call path, not PostgreSQL). Three phases:
  1. one caller, back to back: the unloaded round trip;
  2. `--callers` callers back to back (closed loop): throughput; latency there is queueing,
     latency = callers / throughput;
  3. `--callers` callers paced to `--rate` calls/s in total: latency under a steady load.

  .venv/bin/python -m bench.sidecar_actors [--callers 50] [--calls 100] [--rate 250]

Targets: p50 < 3 ms, p99 < 15 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench._common import bench_database, percentile
from devstack.actor_pair import actor_pair, proxy, release_sdk


async def caller(
    actor_id: str, calls: int, samples: list[float], interval: float, offset: float
) -> None:
    actor = proxy("CounterActor", actor_id)
    await actor.GetCount()  # activation and the first state read are not the steady state
    next_at = time.perf_counter() + offset  # callers spread over the interval, not in bursts
    for _ in range(calls):
        if interval:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))  # pacing
        started = time.perf_counter()
        await actor.GetCount()
        samples.append(time.perf_counter() - started)


async def phase(label: str, callers: int, calls: int, interval: float) -> None:
    samples: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(
            caller(f"{label}-{i}", calls, samples, interval, interval * i / callers)
            for i in range(callers)
        )
    )
    elapsed = time.perf_counter() - started
    ms = [s * 1000 for s in samples]
    print(
        f"{label}: {callers} caller(s), {len(ms)} calls in {elapsed:.1f} s "
        f"({len(ms) / elapsed:.0f} calls/s): p50 {percentile(ms, 0.50):.2f} ms, "
        f"p90 {percentile(ms, 0.90):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms, "
        f"max {max(ms):.2f} ms",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rate", type=float, default=250.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-actors-"))
    database = await bench_database(workdir / "pg", "bench_actors", fresh=True, migrated=False)
    pair = actor_pair(workdir, database, "dev")
    pair.start()
    try:
        await phase("single", 1, args.calls * 5, 0.0)
        await phase("closed-loop", args.callers, args.calls, 0.0)
        await phase("paced", args.callers, args.calls, args.callers / args.rate)
    finally:
        pair.stop()
        release_sdk()


if __name__ == "__main__":
    asyncio.run(main())
