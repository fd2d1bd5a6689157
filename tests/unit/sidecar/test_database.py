"""sidecar.database's guard: a connection that raised a connection-level error is closed, so
the pool opens a fresh one instead of handing the broken one to the next caller."""

from __future__ import annotations

import asyncpg
import pytest

from sidecar.database import _terminate_when_broken


class _Conn:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.terminated = False

    def terminate(self) -> None:
        self.terminated = True


async def _statement(conn: _Conn) -> str:
    if conn.error is not None:
        raise conn.error
    return "OK"


guarded = _terminate_when_broken(_statement)  # type: ignore[arg-type]


async def test_the_drills_state_error_terminates_the_connection() -> None:
    conn = _Conn(
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        )
    )
    with pytest.raises(asyncpg.InternalClientError):
        await guarded(conn)
    assert conn.terminated


async def test_a_closed_socket_terminates_the_connection() -> None:
    conn = _Conn(ConnectionResetError())
    with pytest.raises(ConnectionResetError):
        await guarded(conn)
    assert conn.terminated


async def test_a_refused_argument_keeps_the_connection() -> None:
    conn = _Conn(asyncpg.DataError("invalid input for query argument $1"))
    with pytest.raises(asyncpg.DataError):
        await guarded(conn)
    assert not conn.terminated


async def test_a_statement_error_keeps_the_connection() -> None:
    conn = _Conn(asyncpg.UniqueViolationError("duplicate key"))
    with pytest.raises(asyncpg.UniqueViolationError):
        await guarded(conn)
    assert not conn.terminated


async def test_success_keeps_the_connection() -> None:
    conn = _Conn(None)
    assert await guarded(conn) == "OK"
    assert not conn.terminated
