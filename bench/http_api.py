"""HTTP API v1 under load: the real app against a bare FastAPI + asyncpg baseline.

Measures, with a loopback load generator at 32 connections (wrk by default):
  (a) GET /v1/tasks?tag=<tag>&sort=due_at&limit=50 for a user with 10,000 tasks;
  (b) POST /v1/tasks (title, description, 2 tags, due time, one reminder);
  (c) the baseline: a bare FastAPI + asyncpg endpoint running the single SQL statement the
      app runs for (a), same text, same parameters, captured from the app's own query path.

Both servers are real uvicorn processes with identical flags (1 worker, uvloop, httptools),
run one at a time. The database is a fresh `bench_api` database on the embedded server in
--data-dir (or on DATABASE_URL's server).

  .venv/bin/python -m bench.http_api [--duration 15] [--warmup 5] [--connections 32]
                                     [--client wrk|aiohttp] [--explain] [--profile]

Targets: throughput of (a) >= 0.5x the baseline; p95 < 50 ms for (a) and (b).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import asyncpg

from bench._common import (
    DEFAULT_DATA_DIR,
    ROOT,
    CapturedQuery,
    SeededUser,
    bench_database,
    capture_task_query,
    command_line,
    explain,
    machine,
    markdown_table,
    ms,
    now_stamp,
    percentile,
    postmaster_pid,
    process_cpu,
    seed,
    server_tree_cpu,
    server_version,
    user_tags,
    verdict,
)
from devstack.otlp_receiver import OtlpReceiver
from devstack.processes import Proc, free_port, http_ok, wait_until
from service.schemas import TaskQuery, TaskSort

READER = "bench-reader"
WRITER = "bench-writer"
JWT_SECRET = "bench-secret-for-loopback-only-0123456789"
OUT = ROOT / "bench" / "out"

# one realistic create; __N__ makes every title different
POST_BODY = json.dumps(
    {
        "title": "Review quarterly invoice __N__",
        "description": "Check the totals against the supplier quote before paying.",
        "priority": "high",
        "tags": ["finance", "inbox"],
        "due_at": "2030-03-01T09:00:00",
        "timezone": "Europe/London",
        "reminders": [{"before_minutes": 30}],
    }
)


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


# -- load generators -------------------------------------------------------------------------

WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH-RESULT %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def wrk_script(token: str, body: str | None) -> str:
    lua = f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    if body is not None:
        lua += (
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            "local n = 0\n"
            "request = function()\n"
            "  n = n + 1\n"
            f"  local body = string.gsub([[{body}]], '__N__', tostring(n))\n"
            "  return wrk.format(nil, nil, nil, body)\n"
            "end\n"
        )
    return lua + WRK_DONE


def run_wrk(url: str, token: str, body: str | None, connections: int, seconds: float) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(token, body))
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
             "-s", f.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("BENCH-RESULT"))
    n, us, p50, p95, p99, errors = (int(v) for v in line.split()[1:])
    return Load(n, us / 1e6, p50 / 1e6, p95 / 1e6, p99 / 1e6, errors)


def aiohttp_load(url: str, token: str, body: str | None, connections: int, seconds: float):
    """Runs in its own process: `connections` clients, each sending its next request as soon
    as the previous answer has been read (closed loop, like wrk)."""
    import aiohttp
    import uvloop

    async def main() -> Load:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        method = "GET" if body is None else "POST"
        latencies: list[float] = []
        errors = 0
        counter = iter(range(sys.maxsize))
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            started = time.perf_counter()
            deadline = started + seconds

            async def client() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    data = None if body is None else body.replace("__N__", str(next(counter)))
                    t0 = time.perf_counter()
                    async with session.request(method, url, data=data) as resp:
                        await resp.read()
                        if resp.status >= 400:
                            errors += 1
                    latencies.append(time.perf_counter() - t0)

            await asyncio.gather(*(client() for _ in range(connections)))
            elapsed = time.perf_counter() - started
        return Load(
            len(latencies),
            elapsed,
            percentile(latencies, 0.50),
            percentile(latencies, 0.95),
            percentile(latencies, 0.99),
            errors,
        )

    return uvloop.run(main())


def run_aiohttp(url: str, token: str, body: str | None, connections: int, seconds: float):
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(aiohttp_load, url, token, body, connections, seconds).result()


LOADERS = {"wrk": run_wrk, "aiohttp": run_aiohttp}


# -- servers ---------------------------------------------------------------------------------


def serve(name: str, target: str, env: dict[str, str]) -> tuple[Proc, str]:
    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools",
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    proc = Proc(name, argv, env, OUT / f"api-{name}.log").start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(http_ok(f"{base}/readyz"), 60, f"{name} server ready")
    except TimeoutError:
        proc.stop()
        raise SystemExit(f"{name} did not start; log:\n{proc.log()}") from None
    return proc, base


def profiled(args: argparse.Namespace, proc: Proc, label: str) -> subprocess.Popen | None:
    """py-spy samples the server process during a measured run (only with --profile), as
    collapsed stacks for `python -m bench.top_frames`."""
    if not args.profile:
        return None
    py_spy = Path(sys.executable).parent / "py-spy"
    out = OUT / f"profile-{label}.txt"
    return subprocess.Popen(
        [str(py_spy), "record", "-p", str(proc.popen.pid), "-o", str(out), "-r", "200",
         "-d", str(int(args.duration)), "--nonblocking", "--format", "raw"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@dataclass(frozen=True)
class Measured:
    load: Load
    app_cpu: float  # server process CPU seconds per request
    pg_cpu: float | None  # PostgreSQL CPU seconds per request (local server only)


def measure(
    args, setup: Setup, proc: Proc, label: str, url: str, token: str, body: str | None
) -> Measured:
    load = LOADERS[args.client]
    load(url, token, body, args.connections, args.warmup)
    spy = profiled(args, proc, label)
    app0 = process_cpu(proc.popen.pid)
    postmaster = setup.postmaster
    pg0 = server_tree_cpu(postmaster) if postmaster else 0.0
    result = load(url, token, body, args.connections, args.duration)
    app_cpu = (process_cpu(proc.popen.pid) - app0) / result.requests
    pg_cpu = (server_tree_cpu(postmaster) - pg0) / result.requests if postmaster else None
    if spy is not None:
        spy.wait()
    print(f"  {label}: {result.rps:.0f} req/s, p95 {ms(result.p95)} ms", file=sys.stderr)
    return Measured(result, app_cpu, pg_cpu)


# -- database and the query to compare -------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    url: str
    tag: str
    tagged: int
    query: CapturedQuery
    pg_version: str
    postmaster: int | None  # to account PostgreSQL's CPU when it runs here


async def prepare(data_dir: Path) -> Setup:
    url = await bench_database(data_dir, "bench_api", fresh=True)
    rng = random.Random(11)
    reader = SeededUser(READER, 10_000, user_tags(rng))
    others = [SeededUser(f"bench-other-{i}", 1_000, user_tags(rng)) for i in range(20)]
    await seed(url, [reader, *others])
    tag = reader.tags[2]  # a commonly used tag, not the most common one
    query = TaskQuery(tag=[tag], sort=TaskSort.DUE_AT, limit=50)
    captured = await capture_task_query(url, READER, query)
    conn = await asyncpg.connect(url)
    try:
        tagged = await conn.fetchval(
            "SELECT count(*) FROM task_tags tt JOIN tags g ON g.id = tt.tag_id "
            "WHERE g.user_id = $1 AND g.name = $2",
            READER,
            tag,
        )
    finally:
        await conn.close()
    postmaster = None if os.environ.get("DATABASE_URL") else await postmaster_pid(url)
    return Setup(url, tag, tagged, captured, await server_version(url), postmaster)


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client", choices=sorted(LOADERS), default="wrk")
    parser.add_argument("--explain", action="store_true", help="print the query's plan")
    parser.add_argument(
        "--telemetry-off-first",
        action="store_true",
        help="measure (d), telemetry off, before (a) rather than after (b): alternate the "
        "order between runs, as the server's first measurement differs from its later ones",
    )
    parser.add_argument(
        "--trace-ratio",
        type=float,
        default=1.0,
        help="share of new traces recorded with telemetry on (1.0: every request)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy collapsed stacks in out/")
    args = parser.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk not found: `apt-get install -y wrk`, or pass --client aiohttp")

    load = os.getloadavg()[0]
    print("seeding bench_api ...", file=sys.stderr)
    setup = asyncio.run(prepare(args.data_dir))
    from api.auth import issue_token

    env = dict(os.environ)
    env.update(
        DATABASE_URL=setup.url,
        TICKLER_JWT_SECRET=JWT_SECRET,
        TICKLER_RATE_LIMIT_PER_S="0",  # one user, far past a person's rate, on purpose
        BENCH_SQL=setup.query.sql,
        BENCH_PARAMS=json.dumps(setup.query.params, default=str),
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    path = f"/v1/tasks?tag={setup.tag}&sort=due_at&limit=50"
    reader, writer = issue_token(JWT_SECRET, READER), issue_token(JWT_SECRET, WRITER)

    results: dict[str, Measured] = {}
    # the app's traces go here while its telemetry is on
    with OtlpReceiver(free_port(), decode=False) as collector:
        # baseline first, then the app's reads, then its writes: both reads see the same rows
        proc, base = serve("baseline", "bench._common:baseline_app", env)
        try:
            results["c"] = measure(args, setup, proc, "baseline-get", base + path, reader, None)
        finally:
            proc.stop()

        def reads_without_telemetry() -> None:
            proc, base = serve("app-off", "api.main:app_from_env", {**env, **telemetry(None)})
            try:
                results["d"] = measure(args, setup, proc, "app-get-off", base + path, reader, None)
            finally:
                proc.stop()

        if args.telemetry_off_first:
            reads_without_telemetry()
        on = telemetry(collector.port, args.trace_ratio)
        proc, base = serve("app", "api.main:app_from_env", {**env, **on})
        try:
            results["a"] = measure(args, setup, proc, "app-get", base + path, reader, None)
            results["b"] = measure(
                args, setup, proc, "app-post", f"{base}/v1/tasks", writer, POST_BODY
            )
        finally:
            proc.stop()
        if not args.telemetry_off_first:
            reads_without_telemetry()

    print(report(args, setup, load, results))
    print(f"\nOTLP exports the app sent while its telemetry was on: {collector.exports}")
    if args.explain:
        print("\nPlan of the task query (EXPLAIN ANALYZE, BUFFERS):\n```")
        print(asyncio.run(explain(setup.url, setup.query)))
        print("```")


def telemetry(otlp_port: int | None, trace_ratio: float = 1.0) -> dict[str, str]:
    """The app's environment with all its telemetry on, as the chart runs it (metrics on a
    free port, every request traced and exported over OTLP to the receiver on `otlp_port`,
    a JSON access-log line per request), or, with no port, all of it off."""
    if otlp_port is None:
        return {
            "TICKLER_METRICS_PORT": "0",
            "TICKLER_ACCESS_LOG": "false",
            "TICKLER_LOG_LEVEL": "WARNING",
        }
    return {
        "TICKLER_METRICS_PORT": str(free_port()),
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "TICKLER_ACCESS_LOG": "true",
        "TICKLER_LOG_LEVEL": "INFO",
        "TICKLER_LOG_FORMAT": "json",
        # every request a recorded span at 1.0 (the SDK's default); the production profile
        # (charts/tickler/ci/values-production.yaml) keeps 5 % of new traces
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": str(trace_ratio),
    }


def report(args: argparse.Namespace, setup: Setup, load: float, r: dict[str, Measured]) -> str:
    a, b, c, d = r["a"].load, r["b"].load, r["c"].load, r["d"].load
    ratio = a.rps / c.rps
    telemetry_ratio = a.rps / d.rps

    def pg(m: Measured) -> str:
        return "n/a" if m.pg_cpu is None else ms(m.pg_cpu)

    rows = [
        [label, f"{m.load.rps:.0f}", ms(m.load.p50), ms(m.load.p95), ms(m.load.p99),
         ms(m.app_cpu), pg(m), m.load.requests, m.load.errors]
        for label, m in (
            ("(a) app `GET /v1/tasks?tag=…&sort=due_at&limit=50`", r["a"]),
            ("(b) app `POST /v1/tasks`", r["b"]),
            ("(c) baseline FastAPI + asyncpg, same SQL as (a)", r["c"]),
            ("(d) app, as (a), telemetry off (no metrics, traces or access log)", r["d"]),
        )
    ]  # fmt: skip
    targets = [
        ["(a) throughput ≥ 0.5× baseline", f"{ratio:.2f}×", verdict(ratio >= 0.5)],
        ["(a) p95 < 50 ms", f"{ms(a.p95)} ms", verdict(a.p95 < 0.050)],
        ["(b) p95 < 50 ms", f"{ms(b.p95)} ms", verdict(b.p95 < 0.050)],
        [
            "(a) with telemetry ≥ 0.95× (d) without",
            f"{telemetry_ratio:.2f}×",
            verdict(telemetry_ratio >= 0.95),
        ],
    ]
    loader = {
        "wrk": "wrk 4 (C, 1 thread): on 2 cores it leaves the most CPU to server + PostgreSQL",
        "aiohttp": "aiohttp client (uvloop) in its own process",
    }[args.client]
    header = ["request", "req/s", "p50 ms", "p95 ms", "p99 ms", "server CPU ms/req",
              "PostgreSQL CPU ms/req", "requests", "errors"]  # fmt: skip
    return "\n".join(
        [
            "### HTTP API v1 under load (bench/http_api.py)",
            "",
            f"- Command: `{command_line()}`",
            f"- Machine: {machine()}; 1-min load average at start {load:.2f}",
            f"- Date: {now_stamp()}; PostgreSQL {setup.pg_version} (embedded, default settings)",
            f"- Load: {loader}; {args.connections} connections, closed loop, loopback; "
            f"{args.warmup:g} s warm-up then {args.duration:g} s measured, per row",
            "- Servers: uvicorn, 1 worker, uvloop + httptools, access log off; "
            "one server at a time",
            f"- Data: `{READER}` has 10,000 tasks (20 other users × 1,000); tag "
            f"`{setup.tag}` is on {setup.tagged} of them; a page is {setup.query.items} tasks. "
            f"(a) runs {setup.query.statements} SQL statements per request, outside a "
            "transaction (a reading unit of work); (c) runs only the task query. "
            "(b) writes as another user.",
            "- CPU columns: CPU time the server process and the whole PostgreSQL server used "
            "during the measured run, per request (less sensitive to other load than req/s).",
            "",
            markdown_table(header, rows),
            "",
            markdown_table(["target", "measured", "result"], targets),
        ]
    )


if __name__ == "__main__":
    main()
