"""`tickler dev`: embedded PostgreSQL, a Kafka-wire broker (Tansu), the dev sidecar and the
app, supervised together. It prints the URLs, the run's sidecar-app tokens and a working dev
token; one Ctrl-C (SIGINT) stops the app, the sidecar and then the broker, so nothing is
published into a broker that is going away."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from devstack.processes import ROOT, free_port, http_ok, port_accepts, wait_until


def tickler_dev(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen, Path]:
    env = dict(os.environ, TICKLER_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    for name in ("DATABASE_URL", "APP_API_TOKEN", "DAPR_API_TOKEN"):
        env.pop(name, None)
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "dev", *flags],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return dev, log


def test_tickler_dev_runs_everything_and_stops_on_ctrl_c(tmp_path) -> None:
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    broker_port = free_port()  # not 9092: another run on this machine may hold it
    dev, log = tickler_dev(
        tmp_path,
        "--port", str(app_port),
        "--dapr-http-port", str(http_port),
        "--dapr-grpc-port", str(grpc_port),
        "--broker-port", str(broker_port),
        "--user", "devuser",
    )  # fmt: skip
    try:
        wait_until(lambda: "Dev token" in log.read_text(), timeout=60, what="the banner")
        banner = log.read_text()
        assert f"http://127.0.0.1:{app_port}/docs" in banner
        assert f"http://127.0.0.1:{app_port}/mcp" in banner
        assert f"Kafka 127.0.0.1:{broker_port} (Tansu, memory only)" in banner
        assert port_accepts(broker_port)  # the broker runs before the sidecar starts
        token = re.search(r"Dev token for user 'devuser':\s+(\S+)", banner).group(1)
        app_token = re.search(r"APP_API_TOKEN\s+(\S+)", banner).group(1)
        api_token = re.search(r"DAPR_API_TOKEN\s+(\S+)", banner).group(1)
        assert len(app_token) >= 32 and len(api_token) >= 32 and app_token != api_token
        wait_until(http_ok(f"http://127.0.0.1:{app_port}/readyz"), timeout=60, what="the app")
        wait_until(
            http_ok(f"http://127.0.0.1:{http_port}/v1.0/healthz"),
            timeout=60,
            what=f"the sidecar\n{log.read_text()[-3000:]}",
        )
        base = f"http://127.0.0.1:{app_port}"
        # both directions of the sidecar-app channel want this run's tokens
        assert httpx.get(f"{base}/dapr/config").status_code == 401
        config = httpx.get(f"{base}/dapr/config", headers={"dapr-api-token": app_token})
        assert config.status_code == 200
        metadata = f"http://127.0.0.1:{http_port}/v1.0/metadata"
        assert httpx.get(metadata).status_code == 401
        assert httpx.get(metadata, headers={"dapr-api-token": api_token}).status_code == 200
        auth = {"Authorization": f"Bearer {token}"}
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
        assert dev.wait(60) == 0, log.read_text()[-3000:]
    # the supervisor returns only after its children exited and PostgreSQL stopped
    assert not port_accepts(app_port) and not port_accepts(http_port)
    assert not port_accepts(broker_port)
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()
    lines = log.read_text().splitlines()
    stops = [line for line in lines if line.startswith("stopped ")]
    assert stops == ["stopped app", "stopped sidecar", "stopped broker"]


def test_tickler_dev_fails_clearly_when_the_broker_port_is_taken(tmp_path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        dev, log = tickler_dev(tmp_path, "--broker-port", str(port), "--port", str(free_port()))
        assert dev.wait(60) != 0
    output = log.read_text()
    assert f"port {port} on 127.0.0.1 is in use" in output
    assert "--broker-port" in output
    # it failed before it started anything else
    assert "Tickler is starting" not in output
    assert not (tmp_path / "data" / "pgdata").exists()


def test_tickler_broker_serves_kafka_alone_until_ctrl_c(tmp_path) -> None:
    """For `dapr run -f .` without a Kafka of one's own: the broker components/local names,
    on the port given."""
    port = free_port()
    log = tmp_path / "broker.log"
    with log.open("wb") as out:
        broker = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "broker", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "memory only" in log.read_text(), timeout=30, what="the banner")
        assert f"127.0.0.1:{port}" in log.read_text()

        async def publish() -> None:
            # acks=all without idempotence, as Dapr's sarama producer (DAPR-CONTRACT.md)
            producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", acks="all")
            await producer.start()
            try:
                await producer.send_and_wait("task-events", b"{}")
            finally:
                await producer.stop()

        asyncio.run(publish())
    finally:
        broker.send_signal(signal.SIGINT)
        assert broker.wait(30) == 0, log.read_text()
    assert not port_accepts(port)
    assert "stopped broker" in log.read_text()
