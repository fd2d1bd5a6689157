"""Search and filtered lists over 1,000,000 tasks, through the service layer.

Seeds once (COPY) into `bench_search` on the embedded server in --data-dir (kept between runs;
--reseed starts over): 1,000 users, one of whom has 100,000 tasks, with titles and
descriptions drawn from a Zipf-weighted word list, tags, priorities, due dates over a year and
~30% completed. Then times `service.tasks.list_tasks` with the app's engine and unit of work
(one caller, sequential; no HTTP) for the heavy user:

  (a)  a two-word `q` (relevance order), the words taken from the user's own titles;
  (b1) status=open + priority=high + tag=X, sorted by due date;
  (b2) status=open + tag=X + a 30-day due window, sorted by due date.

Each shape runs --iterations times with varied words/tags after a warm-up.

  .venv/bin/python -m bench.search [--iterations 300] [--reseed] [--explain]

Targets: p95 < 25 ms for (a) and (b).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench._common import (
    DEFAULT_DATA_DIR,
    FILLER,
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
    seed,
    server_version,
    user_tags,
    verdict,
)
from domain.clock import SystemClock
from service.schemas import Priority, Status, TaskQuery, TaskSort
from service.tasks import list_tasks
from store.database import create_engine
from store.uow import SqlUnitOfWork

HEAVY = "search-heavy"
TOTAL_TASKS = 1_000_000
HEAVY_TASKS = 100_000
USERS = 1_000
TARGET = 0.025


def users() -> list[SeededUser]:
    rng = random.Random(23)
    rest, others = TOTAL_TASKS - HEAVY_TASKS, USERS - 1
    share, extra = divmod(rest, others)  # 900,000 over 999 users: 900 or 901 each
    return [SeededUser(HEAVY, HEAVY_TASKS, user_tags(rng))] + [
        SeededUser(f"search-user-{i}", share + (i < extra), user_tags(rng)) for i in range(others)
    ]


async def database(data_dir: Path, reseed: bool) -> str:
    """The seeded database, reused when it already holds the full data set."""
    url = await bench_database(data_dir, "bench_search", fresh=reseed)
    conn = await asyncpg.connect(url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM tasks")
    finally:
        await conn.close()
    if count != TOTAL_TASKS:
        if count:
            url = await bench_database(data_dir, "bench_search", fresh=True)
        print(f"seeding {TOTAL_TASKS:,} tasks (a few minutes, once) ...", file=sys.stderr)
        started = time.perf_counter()
        await seed(url, users())
        print(f"seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return url


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    queries: list[TaskQuery]


async def shapes(url: str, iterations: int) -> list[Shape]:
    """Varied inputs per shape: search words from the heavy user's own titles (as a user
    would type them), and every one of the user's tags in turn."""
    rng = random.Random(5)
    conn = await asyncpg.connect(url)
    try:
        titles = await conn.fetch(
            "SELECT title FROM tasks TABLESAMPLE SYSTEM (5) REPEATABLE (1) WHERE user_id = $1",
            HEAVY,
        )
        tags = [
            r["name"]
            for r in await conn.fetch(
                "SELECT name FROM tags WHERE user_id = $1 ORDER BY name", HEAVY
            )
        ]
    finally:
        await conn.close()
    skip = set(FILLER)
    pairs = []
    for row in rng.sample(titles, len(titles)):
        words = sorted(set(row["title"].lower().split()) - skip)
        if len(words) >= 2:
            pairs.append(" ".join(rng.sample(words, 2)))
    now = datetime.now(UTC)
    windows = [now + timedelta(days=rng.uniform(-30, 200)) for _ in range(iterations)]
    return [
        Shape(
            "a",
            "(a) two-word `q`, relevance order",
            [TaskQuery(q=pairs[i % len(pairs)]) for i in range(iterations)],
        ),
        Shape(
            "b1",
            "(b1) status=open + priority=high + tag, by due date",
            [
                TaskQuery(
                    status=Status.OPEN,
                    priority=[Priority.HIGH],
                    tag=[tags[i % len(tags)]],
                    sort=TaskSort.DUE_AT,
                )
                for i in range(iterations)
            ],
        ),
        Shape(
            "b2",
            "(b2) status=open + tag + 30-day due window, by due date",
            [
                TaskQuery(
                    status=Status.OPEN,
                    tag=[tags[i % len(tags)]],
                    due_after=start,
                    due_before=start + timedelta(days=30),
                    sort=TaskSort.DUE_AT,
                )
                for i, start in enumerate(windows)
            ],
        ),
    ]


@dataclass
class Timing:
    seconds: list[float]
    items: list[int]
    slowest: TaskQuery


async def time_shape(call: Callable, shape: Shape, warmup: int) -> Timing:
    for query in shape.queries[:warmup]:
        await call(query)
    seconds, items = [], []
    slowest, worst = shape.queries[0], 0.0
    for query in shape.queries:
        started = time.perf_counter()
        page = await call(query)
        elapsed = time.perf_counter() - started
        seconds.append(elapsed)
        items.append(len(page.items))
        if elapsed > worst:
            slowest, worst = query, elapsed
    return Timing(seconds, items, slowest)


async def run(args: argparse.Namespace) -> None:
    load = os.getloadavg()[0]
    url = await database(args.data_dir, args.reseed)
    engine = create_engine(url)
    clock = SystemClock()

    async def call(query: TaskQuery):
        return await list_tasks(SqlUnitOfWork(engine, clock), HEAVY, query)

    timings: dict[str, Timing] = {}
    try:
        all_shapes = await shapes(url, args.iterations)
        for shape in all_shapes:
            timings[shape.key] = await time_shape(call, shape, args.warmup)
            p95 = percentile(timings[shape.key].seconds, 0.95)
            print(f"  {shape.label}: p95 {ms(p95)} ms", file=sys.stderr)
    finally:
        await engine.dispose()

    rows, targets = [], []
    for shape in all_shapes:
        t = timings[shape.key]
        p50, p95, p99 = (percentile(t.seconds, q) for q in (0.50, 0.95, 0.99))
        rows.append(
            [shape.label, len(t.seconds), ms(p50), ms(p95), ms(p99), ms(max(t.seconds)),
             f"{sum(t.items) / len(t.items):.0f}"]
        )  # fmt: skip
        targets.append([f"{shape.label.split()[0]} p95 < 25 ms", f"{ms(p95)} ms",
                        verdict(p95 < TARGET)])  # fmt: skip
    print(
        "\n".join(
            [
                "### Search and filtered lists over 1M tasks (bench/search.py)",
                "",
                f"- Command: `{command_line()}`",
                f"- Machine: {machine()}; 1-min load average at start {load:.2f}",
                f"- Date: {now_stamp()}; PostgreSQL {await server_version(url)} "
                "(embedded, default settings)",
                f"- Data: {TOTAL_TASKS:,} tasks over {USERS:,} users; `{HEAVY}` has "
                f"{HEAVY_TASKS:,}. Queries are for `{HEAVY}`.",
                "- Path: `service.tasks.list_tasks` with the app's engine and `SqlUnitOfWork` "
                "(no HTTP), one caller, sequential; page size 50; "
                f"{args.warmup} warm-up calls per shape, then {args.iterations} timed calls "
                "with varied words/tags/windows.",
                "",
                markdown_table(
                    ["query", "calls", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean items"], rows
                ),
                "",
                markdown_table(["target", "measured", "result"], targets),
            ]
        )
    )
    if args.explain:
        for shape in all_shapes:
            captured = await capture_task_query(url, HEAVY, timings[shape.key].slowest)
            print(f"\nSlowest {shape.label.split()[0]} call, EXPLAIN (ANALYZE, BUFFERS):\n```")
            print(await explain(url, captured))
            print("```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--reseed", action="store_true", help="drop and seed again")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="plans of the slowest calls")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
