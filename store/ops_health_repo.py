"""The numbers of the operators' health panel, read straight from the tables that hold
them: the outbox, the consumers' processed events, the saga runs and the reminders' events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


class SqlOpsHealth:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Unpublished events, and the oldest one's time."""
        row = (
            await self._conn.execute(
                text("SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL")
            )
        ).one()
        return int(row[0]), row[1]

    async def consumers(self, since: datetime) -> list[dict[str, Any]]:
        """Per consumer: the last event it handled, and how many since `since`."""
        rows = await self._conn.execute(
            text(
                "SELECT consumer, max(processed_at) AS last_at, "
                "count(*) FILTER (WHERE processed_at >= :since) AS recent "
                "FROM processed_events GROUP BY consumer ORDER BY consumer"
            ),
            {"since": since},
        )
        return [dict(r) for r in rows.mappings()]

    async def saga_minutes(self, since: datetime) -> list[dict[str, Any]]:
        """Per minute since `since`: runs started, completed and failed."""
        rows = await self._conn.execute(
            text(
                "WITH events AS ("
                " SELECT date_trunc('minute', started_at) AS minute, 'started' AS what "
                " FROM saga_runs WHERE started_at >= :since"
                " UNION ALL SELECT date_trunc('minute', finished_at), status FROM saga_runs "
                " WHERE finished_at >= :since AND status IN ('completed', 'failed')) "
                "SELECT minute, count(*) FILTER (WHERE what = 'started') AS started, "
                "count(*) FILTER (WHERE what = 'completed') AS completed, "
                "count(*) FILTER (WHERE what = 'failed') AS failed "
                "FROM events GROUP BY minute ORDER BY minute"
            ),
            {"since": since},
        )
        return [dict(r) for r in rows.mappings()]

    async def reminder_lateness(self, since: datetime) -> tuple[int, float | None, float | None]:
        """reminder.due events recorded since `since`: how many, and the p50 and p99 of
        their lateness in seconds (recorded minus due)."""
        row = (
            await self._conn.execute(
                text(
                    "WITH late AS (SELECT EXTRACT(EPOCH FROM ("
                    " (payload ->> 'occurred_at')::timestamptz"
                    " - (payload -> 'data' ->> 'fire_at')::timestamptz)) AS s "
                    " FROM outbox WHERE type = 'reminder.due' AND created_at >= :since) "
                    "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY s), "
                    "percentile_cont(0.99) WITHIN GROUP (ORDER BY s) FROM late"
                ),
                {"since": since},
            )
        ).one()
        return int(row[0]), row[1], row[2]
