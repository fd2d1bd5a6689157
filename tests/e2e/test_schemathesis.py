"""Property-based fuzzing of /openapi.json with schemathesis: no input may cause a 5xx.

The API runs as a real uvicorn process on loopback with a real migrated PostgreSQL. The
example budget is bounded (and derandomized) so the run fits CI.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.auth import issue_token
from store.database import migrate
from tests.harness import ROOT, Proc, free_port, http_ok, wait_until

SECRET = "schemathesis-secret"


@pytest.fixture(scope="module")
async def fuzz_db(make_database) -> str:
    url = await make_database("fuzz")
    await asyncio.to_thread(migrate, url)
    return url


@pytest.fixture(scope="module")
def live_api(fuzz_db: str, tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=fuzz_db, TICKLER_JWT_SECRET=SECRET, TICKLER_ENV="test")
    proc = Proc(
        "api",
        [sys.executable, "-m", "uvicorn", "api.main:app_from_env", "--factory",
         "--port", str(port), "--log-level", "warning"],
        env,
        tmp_path_factory.mktemp("fuzz") / "api.log",
    ).start()
    base = f"http://127.0.0.1:{port}"
    wait_until(http_ok(f"{base}/readyz"), what=f"api\n{proc.log()}")
    yield base
    proc.stop()
    assert ROOT.exists()


@pytest.fixture(scope="module")
def openapi(live_api: str):
    return schemathesis.openapi.from_url(f"{live_api}/openapi.json")


schema = schemathesis.pytest.from_fixture("openapi")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_causes_a_server_error(case) -> None:
    token = issue_token(SECRET, "fuzzer")
    response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
