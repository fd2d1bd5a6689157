"""The workflow tables in PostgreSQL and the statements that read and change them.

An instance is one row in `dapr_wf_instances`; its committed history is `dapr_wf_history`
(one protobuf HistoryEvent per row); events not yet handed to the workflow wait in
`dapr_wf_inbox` (timers too, invisible until their fire time); scheduled activities that have
not reported back are `dapr_wf_activities`. Everything the engine keeps in memory can be
rebuilt from these tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
import dapr.ext.workflow._durabletask.internal.protos as pb

from .events import TERMINAL, kind_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS dapr_wf_instances (
    instance_id text PRIMARY KEY,
    execution_id text NOT NULL,
    name text NOT NULL,
    status smallint NOT NULL,
    input text,
    output text,
    custom_status text,
    failure bytea,
    parent_instance_id text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    started_at timestamptz,
    completed_at timestamptz
);
CREATE INDEX IF NOT EXISTS dapr_wf_instances_created ON dapr_wf_instances (created_at);
CREATE INDEX IF NOT EXISTS dapr_wf_instances_status ON dapr_wf_instances (status, created_at);
CREATE INDEX IF NOT EXISTS dapr_wf_instances_parent ON dapr_wf_instances (parent_instance_id);
CREATE TABLE IF NOT EXISTS dapr_wf_history (
    instance_id text NOT NULL,
    seq integer NOT NULL,
    event bytea NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS dapr_wf_inbox (
    id bigserial PRIMARY KEY,
    instance_id text NOT NULL,
    kind text NOT NULL,
    visible_at timestamptz NOT NULL,
    event bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS dapr_wf_inbox_instance ON dapr_wf_inbox (instance_id, visible_at);
CREATE TABLE IF NOT EXISTS dapr_wf_activities (
    id bigserial PRIMARY KEY,
    instance_id text NOT NULL,
    execution_id text NOT NULL,
    event bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS dapr_wf_activities_instance ON dapr_wf_activities (instance_id);
"""

# Several sidecars may start against one database; DDL must not race.
_SCHEMA_LOCK = 0x64617072_7766  # "daprwf"

ACTIVE_STATUSES = "(status NOT IN (" + ",".join(str(s) for s in sorted(TERMINAL)) + "))"


@dataclass(frozen=True)
class Instance:
    instance_id: str
    execution_id: str
    name: str
    status: int
    input: str | None
    output: str | None
    custom_status: str | None
    failure: bytes | None
    parent_instance_id: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @property
    def active(self) -> bool:
        return self.status not in TERMINAL


@dataclass(frozen=True)
class InboxRow:
    id: int
    event: pb.HistoryEvent


@dataclass(frozen=True)
class ActivityRow:
    id: int
    instance_id: str
    execution_id: str
    scheduled: pb.HistoryEvent  # the TaskScheduled event: name, input, task id


@dataclass(frozen=True)
class InstanceFilter:
    statuses: tuple[int, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None


async def create_schema(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(SCHEMA)


def _parse(raw: bytes) -> pb.HistoryEvent:
    ev = pb.HistoryEvent()
    ev.ParseFromString(raw)
    return ev


def _instance(row: asyncpg.Record | None) -> Instance | None:
    return None if row is None else Instance(**dict(row))


async def get_instance(
    conn: asyncpg.Connection, instance_id: str, *, lock: bool = False
) -> Instance | None:
    sql = "SELECT * FROM dapr_wf_instances WHERE instance_id = $1"
    return _instance(await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), instance_id))


async def insert_instance(
    conn: asyncpg.Connection,
    *,
    instance_id: str,
    execution_id: str,
    name: str,
    input: str | None,
    parent_instance_id: str | None,
    status: int,
    now: datetime,
) -> None:
    """Insert, or overwrite a finished instance of the same id (the caller checked)."""
    await conn.execute(
        """
        INSERT INTO dapr_wf_instances (instance_id, execution_id, name, status, input,
            parent_instance_id, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
        ON CONFLICT (instance_id) DO UPDATE SET execution_id = $2, name = $3, status = $4,
            input = $5, output = NULL, custom_status = NULL, failure = NULL,
            parent_instance_id = $6, created_at = $7, updated_at = $7, started_at = NULL,
            completed_at = NULL
        """,
        instance_id,
        execution_id,
        name,
        status,
        input,
        parent_instance_id,
        now,
    )


async def clear_pending(conn: asyncpg.Connection, instance_ids: list[str]) -> None:
    """Drop queued events and unanswered activities: the instances take no more."""
    for table in ("dapr_wf_inbox", "dapr_wf_activities"):
        await conn.execute(f"DELETE FROM {table} WHERE instance_id = ANY($1)", instance_ids)


async def clear_instance_data(conn: asyncpg.Connection, instance_ids: list[str]) -> None:
    """Drop history, inbox and pending activities (the instance row stays)."""
    await clear_pending(conn, instance_ids)
    await conn.execute("DELETE FROM dapr_wf_history WHERE instance_id = ANY($1)", instance_ids)


async def delete_instances(conn: asyncpg.Connection, instance_ids: list[str]) -> int:
    await clear_instance_data(conn, instance_ids)
    result = await conn.execute(
        "DELETE FROM dapr_wf_instances WHERE instance_id = ANY($1)", instance_ids
    )
    return int(result.split()[-1])


async def push_inbox(
    conn: asyncpg.Connection, rows: list[tuple[str, pb.HistoryEvent, datetime]]
) -> None:
    """Queue events for instances: (instance id, event, visible from)."""
    if rows:
        await conn.execute(
            """
            INSERT INTO dapr_wf_inbox (instance_id, kind, visible_at, event)
            SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bytea[])
            """,
            [r[0] for r in rows],
            [kind_of(r[1]) for r in rows],
            [r[2] for r in rows],
            [r[1].SerializeToString() for r in rows],
        )


async def push_inbox_if_active(
    conn: asyncpg.Connection, instance_id: str, ev: pb.HistoryEvent, visible_at: datetime
) -> bool:
    """Queue an event unless the instance is missing or finished; True if queued."""
    inserted = await conn.fetchval(
        f"""
        INSERT INTO dapr_wf_inbox (instance_id, kind, visible_at, event)
        SELECT instance_id, $2, $3, $4 FROM dapr_wf_instances
        WHERE instance_id = $1 AND {ACTIVE_STATUSES}
        RETURNING id
        """,
        instance_id,
        kind_of(ev),
        visible_at,
        ev.SerializeToString(),
    )
    return inserted is not None


async def load_turn(
    conn: asyncpg.Connection, instance_id: str, now: datetime
) -> tuple[Instance | None, list[pb.HistoryEvent], list[InboxRow]]:
    """The instance, its committed history and its inbox events visible at `now`.

    One round trip: a turn is loaded for every event an instance receives.
    """
    row = await conn.fetchrow(
        """
        SELECT i.*,
            ARRAY(SELECT id FROM dapr_wf_inbox WHERE instance_id = $1 AND visible_at <= $2
                  ORDER BY id) AS inbox_ids,
            ARRAY(SELECT event FROM dapr_wf_inbox WHERE instance_id = $1 AND visible_at <= $2
                  ORDER BY id) AS inbox_events,
            ARRAY(SELECT event FROM dapr_wf_history WHERE instance_id = $1
                  ORDER BY seq) AS history
        FROM dapr_wf_instances i WHERE i.instance_id = $1
        """,
        instance_id,
        now,
    )
    if row is None:
        return None, [], []
    fields = dict(row)
    ids, raw_inbox, raw_history = (
        fields.pop("inbox_ids"),
        fields.pop("inbox_events"),
        fields.pop("history"),
    )
    inbox = [InboxRow(i, _parse(e)) for i, e in zip(ids, raw_inbox, strict=True)]
    return Instance(**fields), [_parse(e) for e in raw_history], inbox


async def commit_turn(
    conn: asyncpg.Connection,
    instance: Instance,
    *,
    status: int,
    custom_status: str | None,
    output: str | None,
    failure: pb.TaskFailureDetails | None,
    first_seq: int,
    appended: list[pb.HistoryEvent],
    consumed: list[int],
    timers: list[tuple[pb.HistoryEvent, datetime]],
    activities: list[pb.HistoryEvent],
    now: datetime,
) -> list[int] | None:
    """Persist a turn in one statement (so one implicit transaction).

    Updates the instance only if it still runs the same execution, appends history, removes
    the consumed inbox events (all of them, and pending activities, once it finished), queues
    its timers and schedules its activities. Returns the new activity ids, or None when the
    instance was purged or restarted meanwhile (nothing is written then).
    """
    row = await conn.fetchrow(
        """
        WITH upd AS (
            UPDATE dapr_wf_instances SET status = $3, custom_status = $4, updated_at = $5,
                started_at = COALESCE(started_at, $5),
                completed_at = CASE WHEN $6 THEN $5::timestamptz END,
                output = $7, failure = $8
            WHERE instance_id = $1 AND execution_id = $2
            RETURNING instance_id
        ), hist AS (
            INSERT INTO dapr_wf_history (instance_id, seq, event)
            SELECT $1, s, e FROM upd, unnest($9::int[], $10::bytea[]) AS t(s, e)
        ), consumed AS (
            DELETE FROM dapr_wf_inbox
            WHERE instance_id = $1 AND (id = ANY($11::bigint[]) OR $6)
              AND EXISTS (SELECT 1 FROM upd)
        ), timers AS (
            INSERT INTO dapr_wf_inbox (instance_id, kind, visible_at, event)
            SELECT $1, 'timerFired', v, e FROM upd, unnest($12::timestamptz[], $13::bytea[])
                AS t(v, e)
        ), dropped AS (
            DELETE FROM dapr_wf_activities
            WHERE instance_id = $1 AND $6 AND EXISTS (SELECT 1 FROM upd)
        ), acts AS (
            INSERT INTO dapr_wf_activities (instance_id, execution_id, event)
            SELECT $1, $2, e FROM upd, unnest($14::bytea[]) WITH ORDINALITY AS t(e, n)
            ORDER BY n
            RETURNING id
        )
        SELECT EXISTS (SELECT 1 FROM upd) AS current,
            ARRAY(SELECT id FROM acts ORDER BY id) AS ids
        """,
        instance.instance_id,
        instance.execution_id,
        status,
        custom_status,
        now,
        status in TERMINAL,
        output,
        None if failure is None else failure.SerializeToString(),
        list(range(first_seq, first_seq + len(appended))),
        [e.SerializeToString() for e in appended],
        consumed,
        [at for _, at in timers],
        [e.SerializeToString() for e, _ in timers],
        [e.SerializeToString() for e in activities],
    )
    return list(row["ids"]) if row["current"] else None


async def load_history(conn: asyncpg.Connection, instance_id: str) -> list[pb.HistoryEvent] | None:
    """The committed history in commit order, or None when the instance does not exist.

    One statement, so a purge cannot land between "it exists" and "its history is empty".
    Inbox events (not yet handed to the workflow) are not history, as in daprd.
    """
    raw = await conn.fetchval(
        """
        SELECT ARRAY(SELECT event FROM dapr_wf_history WHERE instance_id = $1 ORDER BY seq)
        FROM dapr_wf_instances WHERE instance_id = $1
        """,
        instance_id,
    )
    return None if raw is None else [_parse(e) for e in raw]


async def delete_inbox_rows(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("DELETE FROM dapr_wf_inbox WHERE id = ANY($1)", ids)


async def take_raised_events(
    conn: asyncpg.Connection, instance_id: str, consumed: list[int]
) -> list[pb.HistoryEvent]:
    """Empty the inbox, returning the external events not yet consumed (continue-as-new)."""
    rows = await conn.fetch(
        """
        DELETE FROM dapr_wf_inbox WHERE instance_id = $1
        RETURNING id, kind, event
        """,
        instance_id,
    )
    kept = sorted(
        (r for r in rows if r["kind"] == "eventRaised" and r["id"] not in set(consumed)),
        key=lambda r: r["id"],
    )
    return [_parse(r["event"]) for r in kept]


async def update_instance(
    conn: asyncpg.Connection,
    instance: Instance,
    *,
    status: int,
    custom_status: str | None,
    now: datetime,
    output: str | None = None,
    failure: pb.TaskFailureDetails | None = None,
    execution_id: str | None = None,
    input: str | None = None,
) -> None:
    finished = status in TERMINAL
    await conn.execute(
        """
        UPDATE dapr_wf_instances SET status = $2, custom_status = $3, updated_at = $4,
            started_at = COALESCE(started_at, $4),
            completed_at = CASE WHEN $5 THEN $4 ELSE NULL END,
            output = $6, failure = $7,
            execution_id = COALESCE($8, execution_id), input = COALESCE($9, input)
        WHERE instance_id = $1
        """,
        instance.instance_id,
        status,
        custom_status,
        now,
        finished,
        output,
        None if failure is None else failure.SerializeToString(),
        execution_id,
        input,
    )


async def finish_activity(
    conn: asyncpg.Connection, activity_id: int, result: pb.HistoryEvent, now: datetime
) -> str | None:
    """Delete a pending activity and queue its result for its instance, in one statement.

    Returns the instance id, or None when the activity was already settled or its
    execution is gone (purged, finished, restarted, continued as new).
    """
    return await conn.fetchval(
        f"""
        WITH act AS (
            DELETE FROM dapr_wf_activities WHERE id = $1 RETURNING instance_id, execution_id
        )
        INSERT INTO dapr_wf_inbox (instance_id, kind, visible_at, event)
        SELECT i.instance_id, $2, $3, $4 FROM act JOIN dapr_wf_instances i
            ON i.instance_id = act.instance_id AND i.execution_id = act.execution_id
        WHERE {ACTIVE_STATUSES.replace("status", "i.status")}
        RETURNING instance_id
        """,
        activity_id,
        kind_of(result),
        now,
        result.SerializeToString(),
    )


async def descendants(conn: asyncpg.Connection, instance_id: str) -> list[str]:
    rows = await conn.fetch(
        """
        WITH RECURSIVE tree(id) AS (
            SELECT instance_id FROM dapr_wf_instances WHERE parent_instance_id = $1
            UNION
            SELECT i.instance_id FROM dapr_wf_instances i
            JOIN tree ON i.parent_instance_id = tree.id
        )
        SELECT id FROM tree
        """,
        instance_id,
    )
    return [r["id"] for r in rows]


async def query_instances(
    conn: asyncpg.Connection,
    where: InstanceFilter,
    *,
    after: str | None = None,
    limit: int | None = None,
) -> list[Instance]:
    """Instances matching `where`, ordered by id; `after` is the last id of the page before."""
    clauses, args = ["TRUE"], []
    if where.statuses:
        args.append(list(where.statuses))
        clauses.append(f"status = ANY(${len(args)}::smallint[])")
    if where.created_from is not None:
        args.append(where.created_from)
        clauses.append(f"created_at >= ${len(args)}")
    if where.created_to is not None:
        args.append(where.created_to)
        clauses.append(f"created_at < ${len(args)}")
    if after:
        args.append(after)
        clauses.append(f"instance_id > ${len(args)}")
    sql = f"SELECT * FROM dapr_wf_instances WHERE {' AND '.join(clauses)} ORDER BY instance_id"
    if limit is not None:
        args.append(limit)
        sql += f" LIMIT ${len(args)}"
    return [Instance(**dict(r)) for r in await conn.fetch(sql, *args)]


async def list_instance_ids(
    conn: asyncpg.Connection, *, after: str | None, limit: int | None
) -> list[str]:
    rows = await conn.fetch(
        "SELECT instance_id FROM dapr_wf_instances WHERE instance_id > $1"
        " ORDER BY instance_id LIMIT $2",
        after or "",
        limit,
    )
    return [r["instance_id"] for r in rows]


async def recovery_state(
    conn: asyncpg.Connection,
) -> tuple[list[tuple[datetime, str]], list[ActivityRow]]:
    """What was in flight: (visible from, instance) for inbox events, and pending activities.

    Events already visible collapse to one entry per instance; each future time (a timer)
    is listed, since the instance must wake at every one of them.
    """
    wakeups = await conn.fetch(
        """
        SELECT instance_id, min(visible_at) AS at FROM dapr_wf_inbox
        WHERE visible_at <= now() GROUP BY instance_id
        UNION ALL
        SELECT DISTINCT instance_id, visible_at FROM dapr_wf_inbox WHERE visible_at > now()
        """
    )
    acts = await conn.fetch(
        "SELECT id, instance_id, execution_id, event FROM dapr_wf_activities ORDER BY id"
    )
    return (
        [(r["at"], r["instance_id"]) for r in wakeups],
        [
            ActivityRow(r["id"], r["instance_id"], r["execution_id"], _parse(r["event"]))
            for r in acts
        ],
    )
