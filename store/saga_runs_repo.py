"""Saga runs' persistence: one row per attempt, moved on by each step, never moved back once
finished, paged newest first over the dashboard's filters.

Operator data: no statement here is scoped by user, and none should; the routes that reach
it admit operators only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.saga_runs import FINISHED, LIVE, RunFilter

_FINISHED = sorted(FINISHED)
_LIVE = sorted(LIVE)
COLUMNS = (
    "instance_id, kind, user_id, task_id, series_id, status, attempt, retry_of, started_at, "
    "updated_at, finished_at, step, failure_message, failure_step, next_task_id, purged_at"
)


# a purged run's id scheduled again: the row becomes the new run's
_PURGED = "saga_runs.purged_at IS NOT NULL"
_RENEWED = (
    "kind",
    "series_id",
    "retry_of",
    "started_at",
    "finished_at",
    "failure_message",
    "failure_step",
    "next_task_id",
    "purged_at",
)
_STARTED = text(
    f"INSERT INTO saga_runs ({COLUMNS}) SELECT :instance_id, :kind, :user_id, :task_id, "
    "(SELECT series_id FROM tasks WHERE id = :task_id AND user_id = :user_id), :status, "
    ":attempt, :retry_of, :now, :now, NULL, :step, NULL, NULL, NULL, NULL "
    "ON CONFLICT (instance_id) DO UPDATE SET "
    f"status = CASE WHEN {_PURGED} OR saga_runs.status = 'pending' "
    "OR excluded.status <> 'pending' THEN excluded.status ELSE saga_runs.status END, "
    f"step = CASE WHEN {_PURGED} THEN excluded.step "
    "ELSE COALESCE(excluded.step, saga_runs.step) END, updated_at = excluded.updated_at, "
    + ", ".join(
        f"{c} = CASE WHEN {_PURGED} THEN excluded.{c} ELSE saga_runs.{c} END" for c in _RENEWED
    )
    + f" WHERE saga_runs.status <> ALL(:finished) OR {_PURGED}"
)


def _where(where: RunFilter, params: dict[str, Any], *, with_status: bool = True) -> str:
    clauses = ["TRUE"]
    if with_status and where.statuses:
        clauses.append("status = ANY(:statuses)")
        params["statuses"] = list(where.statuses)
    for column in ("kind", "user_id", "task_id", "series_id"):
        if (value := getattr(where, column)) is not None:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    if where.started_after is not None:
        clauses.append("started_at >= :started_after")
        params["started_after"] = where.started_after
    if where.started_before is not None:
        clauses.append("started_at < :started_before")
        params["started_before"] = where.started_before
    if where.failure:
        # LIKE's own wildcards in the text are literal
        escaped = where.failure.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        clauses.append("failure_message ILIKE :failure")
        params["failure"] = f"%{escaped}%"
    if where.latest_only:
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM saga_runs later WHERE later.task_id = saga_runs.task_id "
            "AND later.attempt > saga_runs.attempt)"
        )
    return " AND ".join(clauses)


class SqlSagaRuns:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def started(
        self,
        *,
        instance_id: str,
        kind: str,
        user_id: str,
        task_id: uuid.UUID,
        attempt: int,
        retry_of: str | None,
        status: str,
        step: str | None,
        now: datetime,
    ) -> None:
        """The run exists from its first sighting on (the starter's, or its first step's
        when the starter died before writing); later sightings move a live run on, never a
        finished one. A purged run's id, which the runtime forgot, may be scheduled again:
        then the row becomes the new run's."""
        await self._conn.execute(
            _STARTED,
            {
                "instance_id": instance_id,
                "kind": kind,
                "user_id": user_id,
                "task_id": task_id,
                "attempt": attempt,
                "retry_of": retry_of,
                "status": status,
                "step": step,
                "now": now,
                "finished": _FINISHED,
            },
        )

    async def finished(
        self,
        instance_id: str,
        *,
        status: str,
        now: datetime,
        next_task_id: uuid.UUID | None = None,
        failure_message: str | None = None,
        failure_step: str | None = None,
    ) -> RowMapping | None:
        """End a run that is still live: its kind and start; None when it had already ended
        (or is unknown)."""
        result = await self._conn.execute(
            text(
                "UPDATE saga_runs SET status = :status, updated_at = :now, finished_at = :now, "
                "step = NULL, next_task_id = COALESCE(:next_task_id, next_task_id), "
                "failure_message = :failure_message, failure_step = :failure_step "
                "WHERE instance_id = :instance_id AND status <> ALL(:finished) "
                "RETURNING kind, started_at"
            ),
            {
                "instance_id": instance_id,
                "status": status,
                "now": now,
                "next_task_id": next_task_id,
                "failure_message": failure_message,
                "failure_step": failure_step,
                "finished": _FINISHED,
            },
        )
        return result.mappings().first()

    async def purged(self, instance_id: str, *, now: datetime) -> None:
        """The runtime forgot the run's instance (history, input and output): the row stays,
        as the record of the attempt, until its id is scheduled again."""
        await self._conn.execute(
            text(
                "UPDATE saga_runs SET purged_at = :now, updated_at = :now "
                "WHERE instance_id = :instance_id"
            ),
            {"instance_id": instance_id, "now": now},
        )

    async def touched(self, instance_id: str, *, status: str, now: datetime) -> None:
        """A live run the reconcile found still live in the runtime, perhaps suspended."""
        await self._conn.execute(
            text(
                "UPDATE saga_runs SET status = :status, updated_at = :now "
                "WHERE instance_id = :instance_id AND status = ANY(:live)"
            ),
            {"instance_id": instance_id, "status": status, "now": now, "live": _LIVE},
        )

    async def stale(self, *, before: datetime, limit: int) -> list[str]:
        """Live runs not heard from since `before`, oldest first."""
        rows = await self._conn.execute(
            text(
                "SELECT instance_id FROM saga_runs WHERE status IN ('pending', 'running', "
                "'suspended') AND updated_at < :before ORDER BY updated_at LIMIT :limit"
            ),
            {"before": before, "limit": limit},
        )
        return [r[0] for r in rows]

    async def get(self, instance_id: str) -> RowMapping | None:
        rows = await self._conn.execute(
            text(f"SELECT {COLUMNS} FROM saga_runs WHERE instance_id = :instance_id"),
            {"instance_id": instance_id},
        )
        return rows.mappings().first()

    async def lineage(self, task_id: uuid.UUID) -> list[RowMapping]:
        """Every attempt at closing the occurrence `task_id`, first to last."""
        rows = await self._conn.execute(
            text(f"SELECT {COLUMNS} FROM saga_runs WHERE task_id = :task_id ORDER BY attempt"),
            {"task_id": task_id},
        )
        return list(rows.mappings())

    async def page(
        self,
        where: RunFilter,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
        oldest_first: bool = False,
    ) -> list[RowMapping]:
        """Newest first (by start, then instance id), or oldest first, after the keyset."""
        params: dict[str, Any] = {"limit": limit}
        sql = f"SELECT {COLUMNS} FROM saga_runs WHERE {_where(where, params)}"
        op, order = (">", "ASC") if oldest_first else ("<", "DESC")
        if after is not None:
            sql += f" AND (started_at, instance_id) {op} (:after_at, :after_id)"
            params["after_at"], params["after_id"] = after
        sql += f" ORDER BY started_at {order}, instance_id {order} LIMIT :limit"
        return list((await self._conn.execute(text(sql), params)).mappings())

    async def counts(self, where: RunFilter) -> dict[str, int]:
        """Runs per status under every filter but the status one (the tabs' numbers)."""
        params: dict[str, Any] = {}
        clauses = _where(where, params, with_status=False)
        sql = f"SELECT status, count(*) FROM saga_runs WHERE {clauses} GROUP BY status"
        return {r[0]: r[1] for r in await self._conn.execute(text(sql), params)}

    async def changed_since(
        self, after: tuple[datetime, str] | None, *, limit: int
    ) -> list[RowMapping]:
        """Runs by last change, oldest first, after the keyset `after` (the live pages' feed);
        with no keyset, the newest change alone, to start from."""
        if after is None:
            sql = (
                f"SELECT {COLUMNS} FROM saga_runs "
                "ORDER BY updated_at DESC, instance_id DESC LIMIT 1"
            )
            return list((await self._conn.execute(text(sql))).mappings())
        sql = (
            f"SELECT {COLUMNS} FROM saga_runs WHERE (updated_at, instance_id) > (:at, :id) "
            "ORDER BY updated_at, instance_id LIMIT :limit"
        )
        params = {"at": after[0], "id": after[1], "limit": limit}
        return list((await self._conn.execute(text(sql), params)).mappings())
