"""Actor state in the actor state store's `state.postgresql` v2 table.

Keys are daprd's: `<app-id>||<actor type>||<actor id>||<key>`, so real daprd reads the same rows.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from sidecar.database import retrying

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


class StateRequestError(ValueError):
    """A malformed state transaction (daprd's ERR_MALFORMED_REQUEST)."""


@dataclass(frozen=True)
class StateOperation:
    key: str
    value: bytes | None  # None: delete
    ttl_seconds: float | None = None


def parse_transaction(body: bytes) -> list[StateOperation]:
    """The SDK's `[{"operation": "upsert"|"delete", "request": {key, value, metadata?}}]`."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise StateRequestError(f"state transaction is not JSON: {exc}") from exc
    if not isinstance(doc, list):
        raise StateRequestError("state transaction must be a JSON array")
    operations = []
    for item in doc:
        if not isinstance(item, dict):
            raise StateRequestError("every operation must be a JSON object")
        request = item.get("request") or {}
        key = request.get("key")
        if not isinstance(key, str) or not key:
            raise StateRequestError("every operation needs request.key")
        match item.get("operation"):
            case "upsert":
                value = orjson.dumps(request.get("value"))
                operations.append(StateOperation(key, value, _ttl(request.get("metadata"))))
            case "delete":
                operations.append(StateOperation(key, None))
            case other:
                raise StateRequestError(f"unknown operation {other!r}")
    return operations


def _ttl(metadata: dict[str, Any] | None) -> float | None:
    raw = (metadata or {}).get("ttlInSeconds")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError as exc:
        raise StateRequestError(f"ttlInSeconds is not a number: {raw!r}") from exc
    return seconds if seconds >= 0 else None  # -1: never expires


class ActorStateStore:
    def __init__(self, pool: asyncpg.Pool, app_id: str, table: str = "state") -> None:
        if not _IDENTIFIER.fullmatch(table):
            raise ValueError(f"bad state table name {table!r}")
        self._pool = pool
        self._prefix = f"{app_id}||"
        self.table = table
        self._get = (
            f"SELECT value FROM {table} WHERE key = $1"
            " AND (expires_at IS NULL OR expires_at > now())"
        )
        self._upsert = (
            f"INSERT INTO {table} (key, value, etag, created_at, expires_at)"
            " VALUES ($1, $2, $3, now(), now() + $4::float8 * interval '1 second')"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag,"
            " updated_at = now(), expires_at = excluded.expires_at"
        )
        self._delete = f"DELETE FROM {table} WHERE key = $1"

    async def create_table(self) -> None:
        # The schema of components-contrib's state.postgresql v2, so daprd can share it.
        ddl = f"""
            CREATE TABLE IF NOT EXISTS {self.table} (
                key text NOT NULL PRIMARY KEY,
                value bytea NOT NULL,
                etag uuid NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz,
                expires_at timestamptz
            );
            CREATE INDEX IF NOT EXISTS {self.table.replace(".", "_")}_expires_at_idx
                ON {self.table} (expires_at);
        """
        await retrying(lambda: self._pool.execute(ddl), what="create actor state table")

    def key(self, actor_type: str, actor_id: str, key: str) -> str:
        return f"{self._prefix}{actor_type}||{actor_id}||{key}"

    async def get(self, actor_type: str, actor_id: str, key: str) -> bytes | None:
        full = self.key(actor_type, actor_id, key)
        return await retrying(lambda: self._pool.fetchval(self._get, full), what="get state")

    async def apply(self, actor_type: str, actor_id: str, ops: list[StateOperation]) -> None:
        """All operations in one PostgreSQL transaction: all or nothing."""

        async def run() -> None:
            async with self._pool.acquire() as conn, conn.transaction():
                for op in ops:
                    full = self.key(actor_type, actor_id, op.key)
                    if op.value is None:
                        await conn.execute(self._delete, full)
                    else:
                        await conn.execute(
                            self._upsert, full, op.value, uuid.uuid4(), op.ttl_seconds
                        )

        await retrying(run, what="save actor state")
