"""The completion saga under load: HTTP POST /complete -> dev sidecar -> workflow -> series
actor -> next occurrence, with N completions in flight on different series.

    .venv/bin/python -m bench.saga [--series 300] [--in-flight 10] [--profile DIR]

--profile records py-spy flame data (collapsed stacks) of the app and the sidecar over the
measured run into DIR, for bench/top_frames.py to summarise.

Targets (issue 4): p95 from request to next occurrence visible under 250 ms; at least
30 sagas/s. The app answers only once the saga finished, with the next occurrence in the
body, and a GET of it right after proves it is visible.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx

from api.auth import issue_token
from bench._common import percentile
from bench._stack import SECRET, CpuMeter, drained, machine, start_stack


class Profiler:
    """py-spy on the app and the sidecar, started and stopped with the CPU meter."""

    def __init__(self, pair, out: Path | None) -> None:
        self.targets = {"app": pair.app.popen.pid, "sidecar": pair.sidecar.popen.pid}
        self.out = out
        self.running: list[subprocess.Popen] = []

    def start(self) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        for name, pid in self.targets.items():
            self.running.append(
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "-p",
                        str(pid),
                        "-f",
                        "raw",
                        "-r",
                        "100",
                        "--nonblocking",
                        "-o",
                        str(self.out / f"{name}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for proc in self.running:
            proc.send_signal(signal.SIGINT)
        for proc in self.running:
            proc.wait(timeout=60)


async def run(
    base: str,
    database_url: str,
    series: int,
    users: int,
    in_flight: int,
    meter: CpuMeter,
    profiler: Profiler,
) -> tuple[float, list[float]]:
    tokens = [
        {"Authorization": f"Bearer {issue_token(SECRET, f'bench-{u}')}"} for u in range(users)
    ]
    limits = httpx.Limits(max_connections=in_flight + 4)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as c:
        tasks = []
        for i in range(series):
            headers = tokens[i % users]
            r = await c.post(
                "/v1/tasks",
                headers=headers,
                json={
                    "title": f"series {i}",
                    "due_at": "2027-06-01T09:00:00Z",
                    "recurrence": {"rrule": "FREQ=DAILY"},
                    "reminders": [{"before_minutes": 15}],
                },
            )
            r.raise_for_status()
            tasks.append((r.json()["id"], headers))
        warm = tasks[: in_flight * 2]
        await asyncio.gather(*(c.post(f"/v1/tasks/{t}/complete", headers=h) for t, h in warm))
        queue = asyncio.Queue()
        for item in tasks[len(warm) :]:
            queue.put_nowait(item)
        latencies: list[float] = []

        async def worker() -> None:
            while not queue.empty():
                task_id, headers = queue.get_nowait()
                began = time.perf_counter()
                r = await c.post(f"/v1/tasks/{task_id}/complete", headers=headers)
                assert r.status_code == 200, r.text
                nxt = r.json()["next"]
                seen = await c.get(f"/v1/tasks/{nxt['id']}", headers=headers)
                assert seen.status_code == 200
                latencies.append(time.perf_counter() - began)

        await drained(database_url)  # the setup's events are not this measurement's
        profiler.start()
        meter.start()
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - began
        profiler.stop()
        return elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--users", type=int, default=1, help="the series' owners, round robin")
    parser.add_argument("--in-flight", type=int, default=10)
    parser.add_argument("--profile", type=Path, help="py-spy the app and sidecar into DIR")
    args = parser.parse_args()
    pair, database_url = start_stack("saga")
    meter = CpuMeter(pair, database_url)
    profiler = Profiler(pair, args.profile)
    try:
        elapsed, lat = asyncio.run(
            run(
                f"http://127.0.0.1:{pair.app_port}",
                database_url,
                args.series,
                args.users,
                args.in_flight,
                meter,
                profiler,
            )
        )
        cpu = meter.stop()
    finally:
        pair.stop()
    ms = [x * 1000 for x in lat]
    rate = len(lat) / elapsed
    p95 = percentile(ms, 0.95)
    print(f"### Completion saga ({date.today().isoformat()})\n")
    print(
        f"- command: `.venv/bin/python bench/saga.py --series {args.series} "
        f"--users {args.users} --in-flight {args.in_flight}`"
    )
    print(f"- machine: {machine()}")
    print(f"- sagas measured: {len(lat)}, in flight: {args.in_flight}")
    print(f"- throughput: {rate:.1f} sagas/s (target >= 30) {'PASS' if rate >= 30 else 'MISS'}")
    print(
        f"- request -> next visible: p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, "
        f"p99 {percentile(ms, 0.99):.0f} ms (target p95 < 250 ms) "
        f"{'PASS' if p95 < 250 else 'MISS'}"
    )
    per_saga = ", ".join(
        f"{name} {seconds / len(lat) * 1000:.1f} ms" for name, seconds in cpu.items()
    )
    available = elapsed * (os.cpu_count() or 1) / len(lat) * 1000
    print(f"- CPU per saga: {per_saga} (of {available:.1f} ms available)")


if __name__ == "__main__":
    main()
