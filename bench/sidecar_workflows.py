"""Workflow throughput and latency through the dev sidecar (`python -m sidecar`).

A 5-activity sequence workflow, kept `--in-flight` at a time by client threads, each starting
a workflow and waiting for its completion. The worker is the SDK's WorkflowRuntime in the
test app process; the sidecar is a separate process, as in production.

    .venv/bin/python -m bench.sidecar_workflows [--workflows 600] [--in-flight 20]

Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench._common import bench_database, process_cpu
from devstack.apps import workflows_app as app
from devstack.workflow_pair import client_for, workflow_pair

ACTIVITIES = 5


def drive(pair, total: int, in_flight: int) -> tuple[float, list[float]]:
    """Run `total` workflows, `in_flight` at a time; returns (elapsed s, latencies s)."""
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [total]

    def client_loop() -> None:
        client = client_for(pair)
        while True:
            with lock:
                if remaining[0] == 0:
                    break
                remaining[0] -= 1
            began = time.perf_counter()
            instance_id = client.schedule_new_workflow(
                app.sequence, input=ACTIVITIES, instance_id=f"bench-{uuid.uuid4().hex}"
            )
            state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
            assert state.runtime_status.name == "COMPLETED", state.runtime_status
            with lock:
                latencies.append(time.perf_counter() - began)
        client.close()

    threads = [threading.Thread(target=client_loop) for _ in range(in_flight)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=600)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=40)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-wf-"))
    name = f"bench_wf_{uuid.uuid4().hex[:8]}"
    database = asyncio.run(bench_database(workdir / "pg", name, fresh=True, migrated=False))
    pair = workflow_pair(workdir, database, "dev").start()
    try:
        drive(pair, args.warmup, args.in_flight)
        procs = {"sidecar": pair.sidecar.popen.pid, "app": pair.app.popen.pid}
        cpu_before = {name: process_cpu(pid) for name, pid in procs.items()}
        elapsed, latencies = drive(pair, args.workflows, args.in_flight)
        cpu = {name: process_cpu(pid) - cpu_before[name] for name, pid in procs.items()}
        _, unloaded = drive(pair, 50, 1)
    finally:
        pair.stop()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    print(f"{args.workflows} workflows x {ACTIVITIES} activities, {args.in_flight} in flight")
    print(f"throughput: {args.workflows / elapsed:.1f} workflows/s ({elapsed:.2f} s)")
    print(
        f"latency ms: p50 {p(0.5):.1f}  p90 {p(0.9):.1f}  p99 {p(0.99):.1f}"
        f"  mean {statistics.mean(latencies) * 1000:.1f}"
    )
    print(
        "cpu ms per workflow: "
        + "  ".join(
            f"{name} {seconds / args.workflows * 1000:.1f}" for name, seconds in cpu.items()
        )
    )
    print(f"unloaded (1 in flight) latency ms: p50 {statistics.median(unloaded) * 1000:.1f}")


if __name__ == "__main__":
    main()
