"""Task persistence: reads that build whole task rows (tags and reminders folded in by
PostgreSQL, so a page of 50 tasks is one query) and the writes the service layer needs.

Every statement is scoped by `user_id`. SQL text is assembled only from constants in this
module; request values always travel as bind parameters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.tasks import TaskFilter

TASK_COLUMNS = """
    t.id, t.user_id, t.title, t.description, t.priority, t.status, t.due_at, t.timezone,
    t.series_id, t.occurrence_index, t.completed_at, t.created_at, t.updated_at, t.version,
    s.rrule, s.mode, s.catch_up, s.dtstart, s.exdates, s.state AS series_state,
    s.timezone AS series_timezone,
    ARRAY(
        SELECT g.name FROM task_tags tt JOIN tags g ON g.id = tt.tag_id
        WHERE tt.task_id = t.id ORDER BY lower(g.name)
    ) AS tags,
    ARRAY(
        SELECT json_build_array(r.id, r.before_minutes, r.at, r.fire_at, r.state)
        FROM reminders r WHERE r.task_id = t.id ORDER BY r.position
    ) AS reminders
"""

FROM_TASKS = "FROM tasks t LEFT JOIN series s ON s.id = t.series_id"


@dataclass(frozen=True)
class SortSpec:
    """A keyset sort: SQL expressions, their directions, and how a cursor value binds."""

    columns: tuple[tuple[str, str, str], ...]  # (sql expression, "ASC"|"DESC", bind cast)


DUE_KEY = "coalesce(t.due_at, 'infinity'::timestamptz)"

SORTS: dict[str, SortSpec] = {
    "due_at": SortSpec(
        (
            ("coalesce(t.due_at, 'infinity'::timestamptz)", "ASC", "timestamptz"),
            ("t.id", "ASC", "uuid"),
        )
    ),
    "-due_at": SortSpec(
        (
            ("coalesce(t.due_at, '-infinity'::timestamptz)", "DESC", "timestamptz"),
            ("t.id", "DESC", "uuid"),
        )
    ),
    "priority": SortSpec((("t.priority", "ASC", "smallint"), ("t.id", "ASC", "uuid"))),
    "-priority": SortSpec((("t.priority", "DESC", "smallint"), ("t.id", "DESC", "uuid"))),
    "created_at": SortSpec((("t.created_at", "ASC", "timestamptz"), ("t.id", "ASC", "uuid"))),
    "-created_at": SortSpec((("t.created_at", "DESC", "timestamptz"), ("t.id", "DESC", "uuid"))),
    "title": SortSpec((("t.title", "ASC", "text"), ("t.id", "ASC", "uuid"))),
    "relevance": SortSpec((("rank", "DESC", "real"), ("t.id", "ASC", "uuid"))),
}


def _where(user_id: str, f: TaskFilter) -> tuple[list[str], dict[str, Any]]:
    clauses = ["t.user_id = :user_id"]
    params: dict[str, Any] = {"user_id": user_id}
    if f.status is not None:
        clauses.append("t.status = :status")
        params["status"] = f.status
    if f.priorities:
        clauses.append("t.priority = ANY(:priorities)")
        params["priorities"] = f.priorities
    # tag ids, not names: with the id bound, PostgreSQL plans with that tag's frequency,
    # and a tag on 28% of the tasks wants another plan than one on 1%
    for i, tag_id in enumerate(f.tag_ids):
        clauses.append(
            f"EXISTS (SELECT 1 FROM task_tags tt WHERE tt.task_id = t.id AND tt.tag_id = :tag{i})"
        )
        params[f"tag{i}"] = tag_id
    # the due window is said twice: on due_at, and on the sort expression, so that the
    # (user_id, status, coalesce(due_at), id) index serves it as a range in sort order
    if f.due_before is not None:
        clauses.append(f"t.due_at < :due_before AND {DUE_KEY} < :due_before")
        params["due_before"] = f.due_before
    if f.due_after is not None:
        clauses.append(f"t.due_at >= :due_after AND {DUE_KEY} >= :due_after")
        params["due_after"] = f.due_after
    if f.overdue is not None:
        overdue = "(t.status = 'open' AND t.due_at < :now)"
        clauses.append(overdue if f.overdue else f"NOT coalesce({overdue}, false)")
        params["now"] = f.now
    if f.recurring is not None:
        clauses.append("t.series_id IS NOT NULL" if f.recurring else "t.series_id IS NULL")
    if f.q is not None:
        clauses.append("t.search @@ websearch_to_tsquery('english', :q)")
        params["q"] = f.q
    return clauses, params


def _keyset(sort: SortSpec, after: Sequence[Any], params: dict[str, Any]) -> str:
    """(a, b) after (x, y) in mixed directions: a > x OR (a = x AND b > y)."""
    ors = []
    for i, (expr, direction, cast) in enumerate(sort.columns):
        op = ">" if direction == "ASC" else "<"
        ands = [f"{e} = CAST(:k{j} AS {c})" for j, (e, _, c) in enumerate(sort.columns[:i])]
        ands.append(f"{expr} {op} CAST(:k{i} AS {cast})")
        ors.append("(" + " AND ".join(ands) + ")")
        params[f"k{i}"] = after[i]
    return "(" + " OR ".join(ors) + ")"


def sort_key(row: dict[str, Any], sort_name: str) -> list[Any]:
    return [_jsonable(row[f"k{i}"]) for i in range(len(SORTS[sort_name].columns))]


def _decoded(result: Any) -> list[dict[str, Any]]:
    """The rows of `result` as dicts; reminders arrive as JSON arrays: [id, before_minutes,
    at, fire_at, state]. Zipping the keys with plain rows costs a third of going through
    SQLAlchemy's row mappings, which a 50-task page felt."""
    keys = list(result.keys())
    rows = [dict(zip(keys, row, strict=True)) for row in result]
    for out in rows:
        out["reminders"] = [json.loads(r) if isinstance(r, str) else r for r in out["reminders"]]
    return rows


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()  # asyncpg maps +-infinity to datetime.max/min and back
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def decode_key(sort_name: str, values: Sequence[Any]) -> list[Any]:
    """Cursor values back to the Python types the bind casts expect; ValueError if malformed."""
    sort = SORTS[sort_name]
    if len(values) != len(sort.columns):
        raise ValueError("wrong number of key values")
    decoders = {
        "timestamptz": datetime.fromisoformat,
        "uuid": uuid.UUID,
        "smallint": int,
        "real": float,
        "text": str,
    }
    return [decoders[cast](v) for v, (_, _, cast) in zip(values, sort.columns, strict=True)]


class SqlTasks:
    """The task aggregate's repository on one unit of work's connection (`uow.tasks`).
    Rows come back as dicts of column name to value."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    sort_key = staticmethod(sort_key)
    decode_key = staticmethod(decode_key)

    async def list_rows(
        self,
        user_id: str,
        f: TaskFilter,
        sort_name: str,
        limit: int,
        after: Sequence[Any] | None,
    ) -> list[dict[str, Any]]:
        """One page of task rows (`sort_key(row, sort_name)` gives a row's cursor key).

        The page is chosen first, from `tasks` alone, and only its rows are joined to their
        series, tags and reminders: filtering and ranking never drag the joins along.
        """
        sort = SORTS[sort_name]
        clauses, params = _where(user_id, f)
        keys = ", ".join(f"{e} AS k{i}" for i, (e, _, _) in enumerate(sort.columns))
        order = ", ".join(f"{e} {d}" for e, d, _ in sort.columns)
        keyset = [_keyset(sort, after, params)] if after is not None else []
        if sort_name == "relevance":
            # rank is a select-list alias, so ordering and the keyset test run one level up
            ranked = (
                "SELECT t.id, ts_rank(t.search, websearch_to_tsquery('english', :q)) AS rank "
                f"FROM tasks t WHERE {' AND '.join(clauses)}"
            )
            outer = ("WHERE " + " AND ".join(keyset)) if keyset else ""
            page = f"SELECT t.id, {keys} FROM ({ranked}) t {outer} ORDER BY {order} LIMIT :limit"
        else:
            where = " AND ".join(clauses + keyset)
            page = f"SELECT t.id, {keys} FROM tasks t WHERE {where} ORDER BY {order} LIMIT :limit"
        page_order = ", ".join(f"p.k{i} {d}" for i, (_, d, _) in enumerate(sort.columns))
        sql = (
            f"WITH p AS MATERIALIZED ({page}) SELECT {TASK_COLUMNS}, "
            + ", ".join(f"p.k{i}" for i in range(len(sort.columns)))
            + f" FROM p JOIN tasks t ON t.id = p.id LEFT JOIN series s ON s.id = t.series_id "
            f"ORDER BY {page_order}"
        )
        params["limit"] = limit
        return _decoded(await self._conn.execute(text(sql), params))

    async def get_rows(
        self, user_id: str, ids: Sequence[uuid.UUID], *, lock: bool = False
    ) -> list[dict[str, Any]]:
        sql = f"SELECT {TASK_COLUMNS} {FROM_TASKS} WHERE t.user_id = :user_id AND t.id = ANY(:ids)"
        if lock:
            sql += " FOR UPDATE OF t"
        result = await self._conn.execute(text(sql), {"user_id": user_id, "ids": list(ids)})
        by_id = {r["id"]: r for r in _decoded(result)}
        return [by_id[i] for i in ids if i in by_id]

    async def get_row(
        self, user_id: str, task_id: uuid.UUID, *, lock: bool = False
    ) -> dict[str, Any] | None:
        rows = await self.get_rows(user_id, [task_id], lock=lock)
        return rows[0] if rows else None

    async def progress(self, user_id: str, task_id: uuid.UUID) -> dict[str, Any] | None:
        """Where a task stands, without the joins a whole row needs: its id, status,
        series_id, series_state and occurrence_index."""
        found = (
            (
                await self._conn.execute(
                    text(
                        "SELECT t.id, t.status, t.series_id, s.state AS series_state, "
                        "t.occurrence_index FROM tasks t LEFT JOIN series s ON s.id = t.series_id "
                        "WHERE t.user_id = :u AND t.id = :id"
                    ),
                    {"u": user_id, "id": task_id},
                )
            )
            .mappings()
            .first()
        )
        return None if found is None else dict(found)

    async def next_in_series(
        self, user_id: str, series_id: uuid.UUID, after_index: int
    ) -> uuid.UUID | None:
        return (
            await self._conn.execute(
                text(
                    "SELECT id FROM tasks WHERE user_id = :u AND series_id = :s "
                    "AND occurrence_index > :i ORDER BY occurrence_index LIMIT 1"
                ),
                {"u": user_id, "s": series_id, "i": after_index},
            )
        ).scalar()

    async def last_in_series(self, user_id: str, series_id: uuid.UUID) -> uuid.UUID | None:
        return (
            await self._conn.execute(
                text(
                    "SELECT id FROM tasks WHERE user_id = :u AND series_id = :s "
                    "ORDER BY occurrence_index DESC LIMIT 1"
                ),
                {"u": user_id, "s": series_id},
            )
        ).scalar()

    async def stored_occurrence_id(
        self, user_id: str, series_id: uuid.UUID, index: int
    ) -> uuid.UUID:
        """The id the series' occurrence `index` is stored under: the derived one
        (domain.tasks.occurrence_id), or whatever a row made before ids were derived has."""
        return (
            await self._conn.execute(
                text(
                    "SELECT id FROM tasks WHERE user_id = :u AND series_id = :s "
                    "AND occurrence_index = :i"
                ),
                {"u": user_id, "s": series_id, "i": index},
            )
        ).scalar_one()

    async def tag_ids(self, user_id: str, names: Sequence[str]) -> dict[str, uuid.UUID]:
        """Existing tags by case-folded name."""
        if not names:
            return {}
        rows = await self._conn.execute(
            text(
                "SELECT id, lower(name) AS key FROM tags "
                "WHERE user_id = :u AND lower(name) = ANY(:n)"
            ),
            {"u": user_id, "n": [n.lower() for n in names]},
        )
        return {r.key: r.id for r in rows}

    async def ensure_tags(self, user_id: str, names: Sequence[str]) -> list[uuid.UUID]:
        """Ids for `names`, creating the missing tags (concurrent creators agree on one row)."""
        if not names:
            return []
        await self._conn.execute(
            text(
                "INSERT INTO tags (id, user_id, name) "
                "SELECT gen_random_uuid(), :u, n FROM unnest(CAST(:n AS text[])) AS n "
                "ON CONFLICT (user_id, lower(name)) DO NOTHING"
            ),
            {"u": user_id, "n": list(names)},
        )
        found = await self.tag_ids(user_id, names)
        return [found[n.lower()] for n in names]

    async def set_task_tags(
        self, task_id: uuid.UUID, ids: Sequence[uuid.UUID], *, fresh: bool = False
    ) -> None:
        if not fresh:
            await self._conn.execute(
                text("DELETE FROM task_tags WHERE task_id = :t"), {"t": task_id}
            )
        if ids:
            await self._conn.execute(
                text(
                    "INSERT INTO task_tags (task_id, tag_id) "
                    "SELECT :t, unnest(CAST(:ids AS uuid[]))"
                ),
                {"t": task_id, "ids": list(ids)},
            )

    async def insert_task(self, values: dict[str, Any]) -> bool:
        """Insert a task; False when (series_id, occurrence_index) already exists."""
        cols = ", ".join(values)
        binds = ", ".join(f":{k}" for k in values)
        result = await self._conn.execute(
            text(
                f"INSERT INTO tasks ({cols}) VALUES ({binds}) "
                "ON CONFLICT (series_id, occurrence_index) DO NOTHING RETURNING id"
            ),
            values,
        )
        return result.scalar() is not None

    async def update_task(self, user_id: str, task_id: uuid.UUID, values: dict) -> None:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        await self._conn.execute(
            text(f"UPDATE tasks SET {sets} WHERE user_id = :_u AND id = :_id"),
            {**values, "_u": user_id, "_id": task_id},
        )

    async def replace_reminders(
        self,
        user_id: str,
        task_id: uuid.UUID,
        rows: Sequence[dict[str, Any]],
        *,
        fresh: bool = False,
    ) -> None:
        if not fresh:
            await self._conn.execute(
                text("DELETE FROM reminders WHERE task_id = :t"), {"t": task_id}
            )
        if rows:
            await self._conn.execute(
                text(
                    "INSERT INTO reminders (id, task_id, user_id, position, before_minutes, at, "
                    "fire_at, state) VALUES (:id, :task_id, :user_id, :position, :before_minutes, "
                    ":at, :fire_at, :state)"
                ),
                [{**r, "task_id": task_id, "user_id": user_id} for r in rows],
            )

    async def cancel_pending_reminders(self, task_id: uuid.UUID) -> None:
        await self._conn.execute(
            text(
                "UPDATE reminders SET state = 'cancelled' WHERE task_id = :t AND state = 'pending'"
            ),
            {"t": task_id},
        )

    async def restore_cancelled_reminders(self, task_id: uuid.UUID, now: datetime) -> None:
        """Reminders cancelled by a completion that was rolled back: the future ones return."""
        await self._conn.execute(
            text(
                "UPDATE reminders SET state = 'pending' WHERE task_id = :t AND state = 'cancelled' "
                "AND fire_at > :now"
            ),
            {"t": task_id, "now": now},
        )

    async def delete_tasks(self, user_id: str, ids: Sequence[uuid.UUID]) -> None:
        await self._conn.execute(
            text("DELETE FROM tasks WHERE user_id = :u AND id = ANY(:ids)"),
            {"u": user_id, "ids": list(ids)},
        )

    async def series_task_ids(self, user_id: str, series_id: uuid.UUID) -> list:
        rows = await self._conn.execute(
            text(
                "SELECT id FROM tasks WHERE user_id = :u AND series_id = :s "
                "ORDER BY occurrence_index"
            ),
            {"u": user_id, "s": series_id},
        )
        return [r.id for r in rows]

    async def insert_series(self, values: dict[str, Any]) -> None:
        cols = ", ".join(values)
        binds = ", ".join(f":{k}" for k in values)
        await self._conn.execute(text(f"INSERT INTO series ({cols}) VALUES ({binds})"), values)

    async def update_series(self, user_id: str, series_id: uuid.UUID, values: dict):
        sets = ", ".join(f"{k} = :{k}" for k in values)
        await self._conn.execute(
            text(f"UPDATE series SET {sets}, updated_at = now() WHERE user_id = :_u AND id = :_id"),
            {**values, "_u": user_id, "_id": series_id},
        )
