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

    async def consumer(
        self, consumer: str, *, sources: list[str], subscribed: list[str], since: datetime
    ) -> dict[str, Any]:
        """The last event `consumer` handled and how many since `since`; and its lag: the
        events published since `since` that reach it (recorded for one of `sources`, or
        redriven to one of `subscribed`) and that it has not handled, with the oldest one's
        publication time. An event kept or discarded as a dead letter will never be handled
        and is not counted."""
        row = await self._conn.execute(
            text(
                "SELECT (SELECT max(processed_at) FROM processed_events WHERE consumer = :c) "
                "AS last_at, (SELECT count(*) FROM processed_events WHERE consumer = :c AND "
                "processed_at >= :since) AS recent, count(o.id) AS behind, "
                "min(o.published_at) AS oldest_behind FROM outbox o "
                "WHERE o.published_at >= :since AND o.topic = ANY(:sources) "
                "AND (o.redrive_topic IS NULL OR o.redrive_topic = ANY(:subscribed)) "
                "AND NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = :c "
                "AND p.event_id = o.event_id) "
                "AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE "
                "d.event_id = o.event_id::text AND d.state <> 'redriven')"
            ),
            {"c": consumer, "since": since, "sources": sources, "subscribed": subscribed},
        )
        return dict(row.mappings().one())

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
