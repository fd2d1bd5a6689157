"""The MCP tool list as agents see it (names, descriptions, annotations, input and output
schemas), pinned in a snapshot so that every change to it is deliberate.

After an intended change: `TICKLER_UPDATE_SNAPSHOTS=1 pytest tests/e2e/test_mcp_snapshot.py`,
then review the diff of tests/e2e/snapshots/mcp_tools.json like any other code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from api.auth import SCOPES, Caller
from api.mcp import authenticated_as, build_server
from domain.clock import SystemClock

SNAPSHOT = Path(__file__).parent / "snapshots" / "mcp_tools.json"


def _no_units():
    raise AssertionError("listing tools must not touch the database")


async def test_the_tool_list_matches_the_snapshot() -> None:
    server = build_server(_no_units, SystemClock(), _no_units, _no_units)
    with authenticated_as(Caller("agent", frozenset(), frozenset(SCOPES)), "token"):
        listed = await server.list_tools()  # every tool: a token that may read and write
    tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed]
    current = json.dumps(tools, indent=2, sort_keys=True) + "\n"
    if os.environ.get("TICKLER_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), "no snapshot yet: run with TICKLER_UPDATE_SNAPSHOTS=1"
    assert current == SNAPSHOT.read_text(), (
        "the MCP tool list changed; if that is intended, regenerate the snapshot with "
        "TICKLER_UPDATE_SNAPSHOTS=1 and review its diff"
    )


# Issue 13 asks for at most 16 KB; until single-task results are compact too and the batch
# tools land, this
# ratchet keeps the list from growing back (57.3 KB before titles, the output
# schemas' descriptions and full tasks in lists went). Lower it with every cut.
TOOL_LIST_RATCHET = 43_000


async def test_the_tool_list_stays_under_its_ratchet() -> None:
    server = build_server(_no_units, SystemClock(), _no_units, _no_units)
    with authenticated_as(Caller("agent", frozenset(), frozenset(SCOPES)), "token"):
        listed = await server.list_tools()
    tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed]
    size = len(json.dumps({"tools": tools}, separators=(",", ":")))
    assert size <= TOOL_LIST_RATCHET, f"tools/list is {size} bytes"
    assert '"title":' not in json.dumps([t["inputSchema"] for t in tools]).replace(
        '"title": {', ""
    ), "schema titles are back"
