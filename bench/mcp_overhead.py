"""MCP overhead: `list_tasks` through the official `mcp` client over Streamable HTTP, against
`GET /v1/tasks` for the same query, on one real uvicorn server (1 worker, uvloop, httptools).

The reader has 10,000 tasks (plus 20 other users with 1,000 each), loaded with COPY into a
fresh `bench_mcp` database on the embedded server in --data-dir (or on DATABASE_URL's server).
One client, one call at a time (an agent's pattern): MCP and HTTP calls alternate, so both see
the same server and cache state. Latency is measured at the client, per call.

  .venv/bin/python -m bench.mcp_overhead [--calls 1000] [--warmup 100]

(Not bench/mcp.py: run as a script, that name would shadow the `mcp` SDK package.)

Targets: MCP `list_tasks` p95 < 30 ms; MCP p95 <= 1.5x the HTTP call's p95.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from bench._common import (
    DEFAULT_DATA_DIR,
    ROOT,
    SeededUser,
    bench_database,
    command_line,
    machine,
    markdown_table,
    ms,
    now_stamp,
    percentile,
    seed,
    server_version,
    user_tags,
    verdict,
)
from devstack.processes import Proc, free_port, http_ok, wait_until

READER = "bench-reader"
JWT_SECRET = "bench-secret-for-loopback-only-0123456789"
OUT = ROOT / "bench" / "out"


async def prepare(data_dir: Path) -> tuple[str, str]:
    url = await bench_database(data_dir, "bench_mcp", fresh=True)
    rng = random.Random(11)
    reader = SeededUser(READER, 10_000, user_tags(rng))
    others = [SeededUser(f"bench-other-{i}", 1_000, user_tags(rng)) for i in range(20)]
    await seed(url, [reader, *others])
    return url, reader.tags[2]  # a commonly used tag, not the most common one


def serve(url: str) -> tuple[Proc, str]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        TICKLER_JWT_SECRET=JWT_SECRET,
        TICKLER_RATE_LIMIT_PER_S="0",  # one user, far past a person's rate, on purpose
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    argv = [
        sys.executable, "-m", "uvicorn", "api.main:app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--loop", "uvloop",
        "--http", "httptools", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    proc = Proc("mcp-app", argv, env, OUT / "mcp-app.log").start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(http_ok(f"{base}/readyz"), 60, "app server ready")
    except TimeoutError:
        proc.stop()
        raise SystemExit(f"the app did not start; log:\n{proc.log()}") from None
    return proc, base


async def measure(base: str, tag: str, calls: int, warmup: int) -> tuple[list[float], list[float]]:
    from api.auth import issue_token

    headers = {"Authorization": f"Bearer {issue_token(JWT_SECRET, READER)}"}
    path = f"/v1/tasks?tag={tag}&sort=due_at&limit=50"
    arguments = {"tag": [tag], "sort": "due_at", "limit": 50}
    mcp_times: list[float] = []
    http_times: list[float] = []
    async with (
        httpx2.AsyncClient(base_url=base, headers=headers, timeout=30) as http,
        httpx2.AsyncClient(headers=headers, timeout=30) as mcp_http,
        streamable_http_client(f"{base}/mcp", http_client=mcp_http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        await session.list_tools()  # the client validates results against output schemas
        for i in range(warmup + calls):
            start = time.perf_counter()
            result = await session.call_tool("list_tasks", arguments)
            mid = time.perf_counter()
            response = await http.get(path)
            end = time.perf_counter()
            if result.is_error or response.status_code != 200:
                raise SystemExit(f"call failed: {result.content} / {response.text[:200]}")
            if i == 0 and len(result.structured_content["items"]) != len(response.json()["items"]):
                raise SystemExit("MCP and HTTP returned different pages")
            if i >= warmup:
                mcp_times.append(mid - start)
                http_times.append(end - mid)
    return mcp_times, http_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--calls", type=int, default=1000, help="measured calls of each kind")
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()

    print("seeding bench_mcp ...", file=sys.stderr)
    url, tag = asyncio.run(prepare(args.data_dir))
    proc, base = serve(url)
    try:
        mcp_times, http_times = asyncio.run(measure(base, tag, args.calls, args.warmup))
    finally:
        proc.stop()
    print(report(args, tag, asyncio.run(server_version(url)), mcp_times, http_times))


def report(args, tag: str, pg: str, mcp_times: list[float], http_times: list[float]) -> str:
    def row(label: str, xs: list[float]) -> list[str]:
        return [label, ms(percentile(xs, 0.5)), ms(percentile(xs, 0.95)), ms(percentile(xs, 0.99))]

    p95_mcp, p95_http = percentile(mcp_times, 0.95), percentile(http_times, 0.95)
    p50_ratio = percentile(mcp_times, 0.5) / percentile(http_times, 0.5)
    ratio = p95_mcp / p95_http
    table = markdown_table(
        ["call (tag, sort=due_at, limit=50; 10,000-task user)", "p50 ms", "p95 ms", "p99 ms"],
        [
            row("MCP `list_tasks` (official client, Streamable HTTP)", mcp_times),
            row("HTTP `GET /v1/tasks`", http_times),
        ],
    )
    targets = markdown_table(
        ["target", "measured", "verdict"],
        [
            ["MCP `list_tasks` p95 < 30 ms", f"{ms(p95_mcp)} ms", verdict(p95_mcp < 0.030)],
            ["MCP p95 ≤ 1.5× HTTP p95", f"{ratio:.2f}×", verdict(ratio <= 1.5)],
        ],
    )
    return (
        f"### MCP overhead ({now_stamp()})\n\n"
        f"`{command_line()}`: {args.calls} calls of each kind after {args.warmup} warm-up, "
        f"alternating, one client; tag `{tag}`; PostgreSQL {pg}; {machine()}.\n\n"
        f"{table}\n\nMCP/HTTP ratio: p50 {p50_ratio:.2f}×, p95 {ratio:.2f}×.\n\n{targets}\n"
    )


if __name__ == "__main__":
    main()
