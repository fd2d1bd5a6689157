"""10,000 reminders scheduled through the ReminderScheduleActors of 1,000 users, all due
within one window; each fire is a `reminder.due` row committed to the outbox.

    .venv/bin/python -m bench.reminders [--users 1000] [--per-user 10] [--window 60]

Tasks and reminders are seeded with SQL (fast), then every user's actor is told to load
its schedule (`SyncAll`) through the sidecar, as the event consumer does in production.
Lateness is the outbox commit time minus the reminder's fire time. Targets (issue 4):
lateness p99 under 1 s; zero duplicates; zero misses.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx

from bench._stack import machine, start_stack
from store.database import plain_url


async def seed(url: str, users: int, per_user: int, start: datetime, window: float) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """
            INSERT INTO tasks (id, user_id, title, description, priority, status, timezone,
                               created_at, updated_at, version)
            SELECT gen_random_uuid(), 'user-' || u, 'task ' || u || '-' || i, '', 1, 'open',
                   'UTC', now(), now(), 1
            FROM generate_series(1, $1) u, generate_series(1, $2) i
            """,
            users,
            per_user,
        )
        await conn.execute(
            """
            INSERT INTO reminders (id, task_id, user_id, position, at, fire_at, state)
            SELECT gen_random_uuid(), t.id, t.user_id, 0, f, f, 'pending'
            FROM (SELECT id, user_id, $1::timestamptz + random() * $2 * interval '1 second' AS f
                  FROM tasks) t
            """,
            start,
            window,
        )
    finally:
        await conn.close()


async def sync_all(http_port: int, users: int, headers: dict[str, str]) -> None:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(limits=limits, timeout=60, headers=headers) as c:
        sem = asyncio.Semaphore(50)

        async def one(u: int) -> None:
            async with sem:
                r = await c.post(
                    f"http://127.0.0.1:{http_port}/v1.0/actors/ReminderScheduleActor/"
                    f"user-{u}/method/SyncAll",
                    json={},
                )
                r.raise_for_status()

        await asyncio.gather(*(one(u) for u in range(1, users + 1)))


async def fired(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(
            """
            SELECT payload -> 'data' ->> 'reminder_id' AS rid,
                   (payload -> 'data' ->> 'fire_at')::timestamptz AS fire_at,
                   created_at
            FROM outbox WHERE type = 'reminder.due'
            """
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--lead", type=float, default=45.0, help="seconds before the window")
    args = parser.parse_args()
    pair, url = start_stack("reminders")
    total = args.users * args.per_user
    try:
        start = datetime.now(UTC) + timedelta(seconds=args.lead)
        asyncio.run(seed(plain_url(url), args.users, args.per_user, start, args.window))
        began = time.perf_counter()
        asyncio.run(sync_all(pair.http_port, args.users, pair.sidecar_headers))
        synced = time.perf_counter() - began
        if datetime.now(UTC) > start:
            raise SystemExit(f"syncing took {synced:.0f} s, past the window; raise --lead")
        end = start + timedelta(seconds=args.window)
        deadline = end + timedelta(seconds=30)
        rows: list = []
        while datetime.now(UTC) < deadline:
            rows = asyncio.run(fired(plain_url(url)))
            if len({r["rid"] for r in rows}) >= total and datetime.now(UTC) > end:
                break
            time.sleep(1)  # polling a database for a benchmark's finish line
    finally:
        pair.stop()
    per_reminder: dict[str, int] = {}
    for r in rows:
        per_reminder[r["rid"]] = per_reminder.get(r["rid"], 0) + 1
    late = sorted((r["created_at"] - r["fire_at"]).total_seconds() for r in rows)
    dupes = sum(n - 1 for n in per_reminder.values() if n > 1)
    missed = total - len(per_reminder)
    p = lambda q: late[min(len(late) - 1, int(q * len(late)))] if late else float("nan")  # noqa: E731
    print(f"### Reminders through the schedule actors ({date.today().isoformat()})\n")
    print(
        f"- command: `.venv/bin/python bench/reminders.py --users {args.users} "
        f"--per-user {args.per_user} --window {args.window:.0f}`"
    )
    print(f"- machine: {machine()}")
    print(
        f"- {total} reminders, {args.users} users, due within {args.window:.0f} s; "
        f"actors synced in {synced:.1f} s"
    )
    print(
        f"- lateness: p50 {p(0.5):.3f} s, p99 {p(0.99):.3f} s, max {late[-1] if late else 0:.3f} s"
        f" (target p99 < 1 s) {'PASS' if late and p(0.99) < 1 else 'MISS'}"
    )
    print(f"- duplicates: {dupes} (target 0) {'PASS' if dupes == 0 else 'MISS'}")
    print(f"- misses: {missed} (target 0) {'PASS' if missed == 0 else 'MISS'}")


if __name__ == "__main__":
    main()
