"""`tickler dev`: embedded PostgreSQL, the dev sidecar and the app, supervised together.
It prints the URLs and a working dev token, and one Ctrl-C (SIGINT) stops all three."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx

from tests.harness import ROOT, free_port, http_ok, port_accepts, wait_until


def test_tickler_dev_runs_everything_and_stops_on_ctrl_c(tmp_path) -> None:
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    env = dict(os.environ, TICKLER_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    env.pop("DATABASE_URL", None)
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api.cli",
                "dev",
                "--port",
                str(app_port),
                "--dapr-http-port",
                str(http_port),
                "--dapr-grpc-port",
                str(grpc_port),
                "--user",
                "devuser",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "Dev token" in log.read_text(), timeout=60, what="the banner")
        banner = log.read_text()
        assert f"http://127.0.0.1:{app_port}/docs" in banner
        assert f"http://127.0.0.1:{app_port}/mcp" in banner
        token = re.search(r"Dev token for user 'devuser':\s+(\S+)", banner).group(1)
        wait_until(http_ok(f"http://127.0.0.1:{app_port}/readyz"), timeout=60, what="the app")
        wait_until(
            http_ok(f"http://127.0.0.1:{http_port}/v1.0/healthz"),
            timeout=60,
            what=f"the sidecar\n{log.read_text()[-3000:]}",
        )
        auth = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{app_port}"
        created = httpx.post(
            f"{base}/v1/tasks",
            headers=auth,
            json={
                "title": "from make dev",
                "due_at": "2027-01-05T09:00:00Z",
                "recurrence": {"rrule": "FREQ=DAILY"},
            },
        )
        assert created.status_code == 201, created.text
        done = httpx.post(
            f"{base}/v1/tasks/{created.json()['id']}/complete", headers=auth, timeout=30
        )
        assert done.status_code == 200, done.text
        assert done.json()["next"]["occurrence_index"] == 1
        assert (tmp_path / "data" / "pgdata").is_dir()
    finally:
        dev.send_signal(signal.SIGINT)
        assert dev.wait(30) == 0, log.read_text()[-3000:]
    # the supervisor returns only after its children exited and PostgreSQL stopped
    assert not port_accepts(app_port) and not port_accepts(http_port)
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()
    assert "stopped app, sidecar and PostgreSQL" in log.read_text()
