"""Actor method round trip through the dev sidecar: ActorProxy -> sidecar -> app -> back.

Runs the real processes: embedded PostgreSQL (or DATABASE_URL), `python -m sidecar`, and the
actor test app (tests/integration/sidecar/apps/actors_app.py) under uvicorn. `--callers`
concurrent callers, each on its own actor id, call `GetCount` (state cached in the app after
the first call, so this measures the call path, not PostgreSQL) `--calls` times each.

  .venv/bin/python bench/sidecar_actors.py [--callers 50] [--calls 200]

Targets: p50 < 3 ms, p99 < 15 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store.embedded_pg import ensure_database, start_embedded  # noqa: E402
from tests.integration.sidecar.actor_pair import actor_pair, proxy, release_sdk  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def caller(actor_id: str, calls: int, samples: list[float]) -> None:
    actor = proxy("CounterActor", actor_id)
    await actor.GetCount()  # activation and the first state read are not the steady state
    for _ in range(calls):
        started = time.perf_counter()
        await actor.GetCount()
        samples.append(time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-actors-"))
    admin = os.environ.get("DATABASE_URL") or start_embedded(workdir / "pg")
    database = await ensure_database(admin, "bench_actors", fresh=True)
    pair = actor_pair(workdir, database, "dev")
    pair.start()
    try:
        samples: list[float] = []
        started = time.perf_counter()
        await asyncio.gather(
            *(caller(f"bench-{i}", args.calls, samples) for i in range(args.callers))
        )
        elapsed = time.perf_counter() - started
    finally:
        pair.stop()
        release_sdk()
    ms = [s * 1000 for s in samples]
    print(
        f"actor round trip, {args.callers} concurrent callers on distinct actors, "
        f"{len(ms)} calls in {elapsed:.1f} s ({len(ms) / elapsed:.0f} calls/s): "
        f"p50 {percentile(ms, 0.50):.2f} ms, p90 {percentile(ms, 0.90):.2f} ms, "
        f"p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.2f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
