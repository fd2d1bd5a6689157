"""Idempotency keys: the first result of each (user, key), and what request it answered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


class SqlIdempotency:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def find(self, user_id: str, key: str) -> tuple[str, Any] | None:
        """(operation, stored result JSON) of the key, or None when it is new."""
        found = (
            await self._conn.execute(
                text(
                    "SELECT operation, result FROM idempotency_keys WHERE user_id = :u AND key = :k"
                ),
                {"u": user_id, "k": key},
            )
        ).first()
        return None if found is None else (found.operation, found.result)

    async def keep(self, user_id: str, key: str, operation: str, result_json: str) -> None:
        """Store the first result under the key; a concurrent first wins."""
        await self._conn.execute(
            text(
                "INSERT INTO idempotency_keys (user_id, key, operation, result) "
                "VALUES (:u, :k, :o, CAST(:r AS jsonb)) ON CONFLICT DO NOTHING"
            ),
            {"u": user_id, "k": key, "o": operation, "r": result_json},
        )
