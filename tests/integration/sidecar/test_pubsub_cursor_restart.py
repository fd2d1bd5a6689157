"""The `pubsub.postgresql` cursor across a PostgreSQL restart (issue 9, "A stuck cursor").

A fault drill restarted PostgreSQL under the dev stack: deliveries went on, but the
subscription's cursor in `dapr_pubsub_cursors` stopped for good, because the first query on a
pooled connection that the restart had killed raised asyncpg's InternalClientError ("cannot
switch to state 15; another operation (2) is in progress"), which the save loop did not catch.
"""

from __future__ import annotations

import asyncio
import json
import select
import uuid
from pathlib import Path

import asyncpg
import pytest

from devstack.processes import DaprPair, eventually, pg_ctl
from devstack.pubsub import (
    APP_TARGET,
    dapr_client,
    wait_for_deliveries,
    write_component,
)
from sidecar.database import TRANSIENT, close_pools, pool_for
from store.embedded_pg import ensure_database

pytestmark = [
    pytest.mark.slow,
    pytest.mark.dev_sidecar("reads and restarts the database of pubsub.postgresql"),
]

CURSOR = "SELECT position FROM dapr_pubsub_cursors WHERE topic = 'orders'"
NEWEST = "SELECT max(id) FROM dapr_pubsub_messages WHERE topic = 'orders'"


def publish(pair: DaprPair, mark: str, count: int) -> None:
    with dapr_client(pair) as client:
        for n in range(count):
            client.publish_event(
                "pubsub",
                "orders",
                json.dumps({"mark": mark, "n": n}),
                data_content_type="application/json",
            )


async def cursor_and_newest(database: str) -> tuple[int | None, int | None]:
    conn = await asyncpg.connect(database)
    try:
        return await conn.fetchval(CURSOR), await conn.fetchval(NEWEST)
    finally:
        await conn.close()


async def test_the_cursor_advances_after_postgresql_restarts(
    own_postgres: tuple[str, Path], tmp_path: Path
) -> None:
    """Deliveries after a restart move the saved cursor up to the newest message (the
    drill's cursor stayed behind for good; tests/unit/sidecar/test_pubsub.py pins the cause,
    a save loop that ended on an error it did not name)."""
    admin_uri, pgdata = own_postgres
    database = await ensure_database(admin_uri, "cursor_restart", fresh=True)
    resources = write_component(
        tmp_path / "resources", "pubsub.postgresql", {"connectionString": database}
    )
    pair = DaprPair(APP_TARGET, resources, tmp_path, runtime="sidecar")
    try:
        pair.start()
        before = uuid.uuid4().hex
        publish(pair, before, 5)
        wait_for_deliveries(pair, "orders", before, count=5)

        pg_ctl(pgdata, "restart")  # -m fast: every pooled connection of the sidecar is killed

        after = uuid.uuid4().hex
        publish(pair, after, 20)
        wait_for_deliveries(pair, "orders", after, count=20)

        async def settled() -> bool:
            cursor, newest = await cursor_and_newest(database)
            return cursor is not None and cursor == newest

        await eventually(settled, what="the cursor to reach the newest message")
    finally:
        pair.stop()


async def test_a_connection_broken_by_a_server_side_close_is_terminated_not_reused(
    make_database,
) -> None:
    """The drill's fault, made on purpose: the server ends an idle pooled connection, as a
    restart does. Whichever way asyncpg first notices (the drill's "cannot switch to state
    15" when the next statement races the socket's close, or the close itself, read in the
    same loop pass as the FATAL), that statement fails with a transient error, the
    connection is closed, and the pool never hands it out again. Which way it goes depends on
    how the kernel splits the FATAL and the close into reads (and whether the loop has read
    both before the test looks), so this asserts what holds either way;
    tests/unit/sidecar/test_database.py pins the guard on the drill's error."""
    database = await make_database("pool_broken")
    pool = await pool_for(database)
    admin = await asyncpg.connect(database)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            raw = conn._con
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            # the loop may have read the FATAL and the close already, while the admin's
            # statement ran: then the socket is gone; else wait until it is readable
            transport = raw._transport
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None and sock.fileno() >= 0:
                readable, _, _ = select.select([sock], [], [], 10)
                assert readable, "the server never ended the connection"
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            with pytest.raises(TRANSIENT):
                await conn.execute("BEGIN")
            assert raw.is_closed()
        async with pool.acquire() as conn, conn.transaction():
            assert await conn.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        await admin.close()
        await close_pools()
