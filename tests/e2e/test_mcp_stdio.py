"""The same agent session over stdio: `python -m api.cli mcp` started by the official client's
`stdio_client`, as a desktop agent would, with the user taken from TICKLER_TOKEN.

The server runs in its own process on the system clock, so the scenarios get the real time.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from api.auth import issue_token
from devstack.processes import ROOT
from store.database import migrate
from tests.e2e import test_mcp_http as scenario

SECRET = "stdio-secret-for-the-mcp-suite-0123456789"


@pytest.fixture(scope="module")
async def database_url(make_database) -> str:
    url = await make_database("mcp_stdio")
    await asyncio.to_thread(migrate, url)
    return url


def server_env(database_url: str, token: str | None) -> dict[str, str]:
    env = {"DATABASE_URL": database_url, "TICKLER_JWT_SECRET": SECRET, "TICKLER_ENV": "test"}
    if token is not None:
        env["TICKLER_TOKEN"] = token
    return env


@asynccontextmanager
async def agent(database_url: str, user: str) -> AsyncIterator[scenario.Agent]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "api.cli", "mcp"],
        env=server_env(database_url, issue_token(SECRET, user)),
        cwd=ROOT,
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield scenario.Agent(session)


async def test_an_agent_session_over_stdio_calls_every_tool(database_url: str) -> None:
    async with agent(database_url, "alice") as alice:
        await scenario.check_tool_list(alice)
        now = datetime.now(UTC)
        await scenario.recurring_task_lifecycle(alice, now)
        await scenario.strict_arguments(alice)
        await scenario.not_found_everywhere(alice)
        await scenario.idempotent_retries_and_dry_runs(alice)
        await scenario.series_deletion(alice, now)
        await scenario.recurrence_previews(alice)
        await scenario.reminders(alice, now)
        await scenario.tags(alice)
    async with agent(database_url, "lister") as lister:
        await scenario.listing_and_search(lister, datetime.now(UTC))


async def test_two_stdio_servers_with_two_tokens_never_see_each_others_tasks(
    database_url: str,
) -> None:
    async with agent(database_url, "carol") as carol, agent(database_url, "dave") as dave:
        await scenario.isolation(carol, dave)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "set TICKLER_TOKEN"),
        ("not-a-jwt", "TICKLER_TOKEN is not valid"),
        (issue_token("some-other-secret-0123456789abcdef", "alice"), "Signature verification"),
    ],
)
def test_tickler_mcp_refuses_to_start_without_a_valid_token(
    database_url: str, token: str | None, message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TICKLER_TOKEN"}
    env.update(server_env(database_url, token))
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "mcp"],
        env=env,
        cwd=ROOT,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""  # stdout belongs to the protocol
