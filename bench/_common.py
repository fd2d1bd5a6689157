"""Shared by bench/http_api.py and bench/search.py: a benchmark database, realistic task data
loaded with COPY, latency statistics, the Markdown block each script prints, and the bare
FastAPI + asyncpg baseline app that bench/http_api.py compares the real app against.

App modules are imported inside functions so that the baseline server process loads nothing
but FastAPI and asyncpg.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import FastAPI, Response

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA_DIR = ROOT / "bench" / "out" / "pg"

# -- database --------------------------------------------------------------------------------


async def bench_database(data_dir: Path, name: str, *, fresh: bool, migrated: bool = True) -> str:
    """A database `name` (with the app's schema when `migrated`) on DATABASE_URL's server, or
    on an embedded server whose files persist in `data_dir`; returns its postgresql:// URI."""
    from store.database import migrate
    from store.embedded_pg import ensure_database, start_embedded

    admin = os.environ.get("DATABASE_URL") or start_embedded(data_dir)
    url = await ensure_database(admin, name, fresh=fresh)
    if migrated:
        await asyncio.to_thread(migrate, url)
    return url


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()


# -- realistic task data ---------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


VERBS = _words("""call email review fix update schedule buy pay book prepare send write clean
renew cancel order check finish draft plan organise submit sign file backup install upgrade
migrate test deploy refactor document research compare read reply follow confirm collect return
repair replace measure paint print scan share archive sort pack ship invite visit discuss present
record register apply""")

NOUNS = _words("""invoice report meeting dentist car insurance tax return passport visa budget
proposal contract slides roadmap release server database backup laptop printer router garden
kitchen bathroom garage fence roof window door lease mortgage loan bank account card subscription
newsletter blog post article podcast video photos album birthday gift party wedding flight hotel
train ticket rental doctor appointment prescription pharmacy gym membership yoga class course
exam homework thesis paper review feedback survey interview candidate offer onboarding payroll
expenses receipts quote estimate supplier customer client vendor partner team manager board
agenda minutes notes plan strategy campaign launch website landing page form checkout api
endpoint migration schema index query dashboard metrics alert incident outage postmortem ticket
issue bug feature branch build pipeline deployment cluster certificate domain dns email inbox
calendar reminder deadline milestone sprint retro standup demo workshop conference talk
presentation spreadsheet document folder drive password license warranty manual parts battery
tyres oil filter bike helmet shoes jacket groceries milk bread eggs coffee vegetables fruit
dinner lunch breakfast recipe oven fridge dishwasher laundry vacuum carpet sofa lamp shelf
desk chair plants seeds lawn hedge tree bins recycling parcel letter package delivery courier
neighbour landlord plumber electrician builder mechanic accountant lawyer notary council school
teacher nursery kids dog cat vet food walk holiday trip itinerary luggage camera charger
phone tablet headphones keyboard monitor cable adapter""")

ADJECTIVES = _words("""new old quarterly monthly weekly annual urgent final draft shared personal
internal external overdue broken missing spare second main small large local remote""")

FILLER = _words("""the a an for with about before after from to of on in at by and or this next
last our my their some all""")

TAG_NAMES = _words("""work home errands finance health family shopping travel admin reading
garden car kids school taxes projects ideas someday waiting calls email meetings fitness
hobbies music cooking cleaning repairs bills insurance pets friends learning writing coding
ops release design research support sales marketing""")

ZONES = ["UTC", "Europe/London", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]
RULES = ["FREQ=WEEKLY;BYDAY=MO", "FREQ=DAILY", "FREQ=MONTHLY;BYMONTHDAY=1", "FREQ=WEEKLY"]


def _zipf(n: int, s: float = 1.0) -> list[float]:
    """Cumulative Zipf weights: a few words are everywhere, most are rare, as in real text."""
    return list(accumulate(1.0 / (rank + 1) ** s for rank in range(n)))


@dataclass
class Vocabulary:
    rng: random.Random
    verbs: list[str] = field(default_factory=list)
    nouns: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # each run of the seed gets its own (seeded) popularity order
        self.verbs = self.rng.sample(VERBS, len(VERBS))
        self.nouns = self.rng.sample(NOUNS, len(NOUNS))
        self.words = self.rng.sample(NOUNS + VERBS + ADJECTIVES, len(NOUNS + VERBS + ADJECTIVES))
        self._cw_verbs, self._cw_nouns = _zipf(len(self.verbs)), _zipf(len(self.nouns))
        self._cw_words = _zipf(len(self.words))

    def title(self) -> str:
        r = self.rng
        parts = [r.choices(self.verbs, cum_weights=self._cw_verbs)[0]]
        if r.random() < 0.3:
            parts.append(r.choice(ADJECTIVES))
        parts.append(r.choices(self.nouns, cum_weights=self._cw_nouns)[0])
        if r.random() < 0.5:
            parts += [r.choice(FILLER), r.choices(self.nouns, cum_weights=self._cw_nouns)[0]]
        return " ".join(parts).capitalize()

    def description(self) -> str:
        r = self.rng
        if r.random() < 0.4:
            return ""
        n = r.randint(5, 30)
        content = r.choices(self.words, cum_weights=self._cw_words, k=n)
        filler = r.choices(FILLER, k=n // 2)
        words = content + filler
        r.shuffle(words)
        return " ".join(words).capitalize() + "."


@dataclass(frozen=True)
class SeededUser:
    user_id: str
    tasks: int
    tags: list[str]  # most used first


TASK_COLUMNS = [
    "id", "user_id", "title", "description", "priority", "status", "due_at", "timezone",
    "series_id", "occurrence_index", "completed_at", "created_at", "updated_at", "version",
]  # fmt: skip
SERIES_COLUMNS = [
    "id", "user_id", "rrule", "timezone", "dtstart", "mode", "catch_up", "state",
    "created_at", "updated_at",
]  # fmt: skip
REMINDER_COLUMNS = ["id", "task_id", "user_id", "position", "before_minutes", "fire_at", "state"]


@dataclass
class _Batch:
    series: list[tuple] = field(default_factory=list)
    tasks: list[tuple] = field(default_factory=list)
    tags: list[tuple] = field(default_factory=list)
    task_tags: list[tuple] = field(default_factory=list)
    reminders: list[tuple] = field(default_factory=list)


def _user_batches(
    user: SeededUser, vocab: Vocabulary, now: datetime, batch: int
) -> Iterator[_Batch]:
    """Rows for one user's tasks: priorities skewed to medium, ~30% completed, due dates over
    a year around `now` (15% undated), 0-3 tags (Zipf over the user's tags), 25% of dated
    tasks with a reminder, 2% recurring."""
    r = vocab.rng
    tag_ids = [uuid.uuid4() for _ in user.tags]
    tag_cw = _zipf(len(user.tags))
    out = _Batch(tags=[(i, user.user_id, n) for i, n in zip(tag_ids, user.tags, strict=True)])
    for n in range(user.tasks):
        task_id = uuid.uuid4()
        created = now - timedelta(seconds=r.uniform(0, 365 * 86400))
        due = None if r.random() < 0.15 else now + timedelta(days=r.uniform(-120, 245))
        roll = r.random()
        status = "completed" if roll < 0.3 else "skipped" if roll < 0.33 else "open"
        completed = created + (now - created) * r.random() if status != "open" else None
        tz = r.choice(ZONES)
        series_id = None
        if due is not None and status == "open" and r.random() < 0.02:
            series_id = uuid.uuid4()
            wall = due.astimezone(ZoneInfo(tz)).replace(tzinfo=None, microsecond=0)
            due = wall.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
            out.series.append(
                (series_id, user.user_id, r.choice(RULES), tz, wall, "schedule", "skip_missed",
                 "active", created, created)
            )  # fmt: skip
        out.tasks.append(
            (task_id, user.user_id, vocab.title(), vocab.description(),
             r.choices((0, 1, 2, 3), weights=(30, 45, 18, 7))[0], status, due, tz, series_id,
             0 if series_id else None, completed, created, completed or created, 1)
        )  # fmt: skip
        count = r.choices((0, 1, 2, 3), weights=(20, 45, 25, 10))[0]
        chosen = {r.choices(range(len(tag_ids)), cum_weights=tag_cw)[0] for _ in range(count)}
        out.task_tags += [(task_id, tag_ids[i]) for i in chosen]
        if due is not None and r.random() < 0.25:
            before = r.choice((15, 60, 1440))
            fire = due - timedelta(minutes=before)
            state = "pending" if status == "open" and fire > now else "sent"
            out.reminders.append((uuid.uuid4(), task_id, user.user_id, 0, before, fire, state))
        if len(out.tasks) == batch or n == user.tasks - 1:
            yield out
            out = _Batch()


async def seed(url: str, users: Sequence[SeededUser], *, rng_seed: int = 7) -> None:
    """Load `users` and their tasks with COPY, then VACUUM ANALYZE so plans and visibility
    maps match a settled production table."""
    vocab = Vocabulary(random.Random(rng_seed))
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        for user in users:
            for b in _user_batches(user, vocab, now, batch=50_000):
                async with conn.transaction():
                    await conn.copy_records_to_table("series", records=b.series,
                                                     columns=SERIES_COLUMNS)  # fmt: skip
                    await conn.copy_records_to_table("tasks", records=b.tasks,
                                                     columns=TASK_COLUMNS)  # fmt: skip
                    await conn.copy_records_to_table("tags", records=b.tags,
                                                     columns=["id", "user_id", "name"])  # fmt: skip
                    await conn.copy_records_to_table("task_tags", records=b.task_tags,
                                                     columns=["task_id", "tag_id"])  # fmt: skip
                    await conn.copy_records_to_table("reminders", records=b.reminders,
                                                     columns=REMINDER_COLUMNS)  # fmt: skip
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def user_tags(rng: random.Random, count: int = 30) -> list[str]:
    return rng.sample(TAG_NAMES, count)


# -- the SQL behind a list request -----------------------------------------------------------


@dataclass(frozen=True)
class CapturedQuery:
    sql: str  # the task query, in asyncpg's $n form
    params: list[Any]  # its parameters, as SQLAlchemy handed them to asyncpg
    statements: int  # every statement the request ran
    items: int  # tasks on the page returned


async def capture_task_query(url: str, user_id: str, query: Any) -> CapturedQuery:
    """Run one list request through the real service layer (`service.tasks.list_tasks` with
    the app's engine and unit of work) and record every statement SQLAlchemy hands to
    asyncpg; the one that reads from `tasks` is the list query."""
    from sqlalchemy import event

    from domain.clock import SystemClock
    from service.tasks import list_tasks
    from store.database import create_engine
    from store.uow import SqlUnitOfWork

    engine = create_engine(url, pool_size=1)
    seen: list[tuple[str, Sequence[Any]]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters))

    try:
        page = await list_tasks(SqlUnitOfWork(engine, SystemClock()), user_id, query)
    finally:
        await engine.dispose()
    (sql, params), *rest = [s for s in seen if "FROM tasks t" in s[0]]
    if rest:
        raise SystemExit("a list request ran more than one task query; update the capture")
    return CapturedQuery(sql, list(params), len(seen), len(page.items))


async def explain(url: str, captured: CapturedQuery) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a captured query with its parameters (a custom plan)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + captured.sql, *captured.params)
    finally:
        await conn.close()
    return "\n".join(r[0] for r in rows)


# -- CPU accounting (robust when other work shares the machine) -------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat fields after the command name: [0] state, [1] ppid, [11] utime,
    [12] stime, [13] cutime, [14] cstime (clock ticks)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by one process (all its threads)."""
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) / _TICK


def server_tree_cpu(postmaster: int) -> float:
    """CPU seconds used by a PostgreSQL server: the postmaster, its exited (reaped) children,
    and its live children (backends, checkpointer, WAL writer...)."""
    f = _stat(postmaster)
    total = sum(int(x) for x in f[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                child = _stat(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(child[1]) == postmaster:
                total += int(child[11]) + int(child[12])
    return total / _TICK


async def postmaster_pid(url: str) -> int | None:
    """The server's main process, if it runs on this machine (else None)."""
    conn = await asyncpg.connect(url)
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        try:
            return int(_stat(backend)[1])
        except FileNotFoundError:
            return None
    finally:
        await conn.close()


# -- statistics and reporting ----------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    return f"{os.cpu_count()} CPUs (nproc), {model}{mem}, {platform.system()} {platform.release()}"


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def command_line() -> str:
    script = Path(sys.argv[0]).resolve().relative_to(ROOT)
    return " ".join([".venv/bin/python", str(script), *sys.argv[1:]])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# -- the baseline server ---------------------------------------------------------------------


def baseline_app() -> FastAPI:
    """Bare FastAPI + asyncpg: `GET /v1/tasks` runs one SQL statement, the exact text and
    parameters bench/http_api.py captured from the real app (env BENCH_SQL, BENCH_PARAMS), and
    returns its rows as JSON. No auth, no ORM, no models: the floor for that request."""
    sql = os.environ["BENCH_SQL"]
    params = json.loads(os.environ["BENCH_PARAMS"])
    dsn = os.environ["DATABASE_URL"]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the app's pool: SQLAlchemy pool_size 20 + max_overflow 20, statement cache 500
        app.state.pool = await asyncpg.create_pool(
            dsn, min_size=20, max_size=40, statement_cache_size=500
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/v1/tasks")
    async def tasks() -> Response:
        async with app.state.pool.acquire() as conn:
            rows = await conn.fetch(sql, *params)
        body = json.dumps([dict(r) for r in rows], default=str)
        return Response(body, media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> Response:
        return Response('{"status":"ready"}', media_type="application/json")

    return app
