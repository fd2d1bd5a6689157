"""Pub/sub through the dev sidecar: publish throughput and publish-to-delivery latency, on
the Kafka transport (components/local's `pubsub.kafka`, on a Tansu broker; the default) or
the sidecar's dev-only PostgreSQL transport.

Runs the real processes: embedded PostgreSQL (or DATABASE_URL), a Tansu broker for Kafka,
`python -m sidecar`, and a subscriber app (this module's `app`, served by uvicorn).
Publishing uses the gRPC API the SDK's `DaprClient.publish_event` calls, from asyncio with
many calls in flight.

  .venv/bin/python -m bench.sidecar_pubsub [--transport kafka|postgres] [--events 10000]
      [--concurrency 64] [--rate 500]

Phase 0 (publish only): `--events` publishes to a topic without subscribers.
Phase 1 (throughput): `--events` publishes as fast as `--concurrency` callers go; reports
publishes/s (acknowledged, so durably stored) and the time until all were delivered.
Phase 2 (latency): `--rate` events/s paced for `--seconds`; reports the publish-to-delivery
p50/p95/p99 measured in the app (same host, same clock).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import httpx
from dapr.ext.fastapi import DaprApp
from fastapi import FastAPI, Request

from bench._common import bench_database, percentile

app = FastAPI()
dapr_app = DaprApp(app)
_latencies: dict[str, list[float]] = {}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {}


@app.get("/stats/{run}")
def stats(run: str) -> list[float]:
    return _latencies.get(run, [])


@dapr_app.subscribe(pubsub="pubsub", topic="bench", route="/events/bench")
async def on_event(request: Request) -> dict[str, str]:
    data = (await request.json())["data"]
    _latencies.setdefault(data["run"], []).append(time.time() - data["sent"])
    return {"status": "SUCCESS"}


async def _publish(stub, run: str, topic: str = "bench") -> None:
    from dapr.proto.runtime.v1.pubsub_pb2 import PublishEventRequest

    body = json.dumps({"run": run, "sent": time.time()}).encode()
    await stub.PublishEvent(
        PublishEventRequest(
            pubsub_name="pubsub", topic=topic, data=body, data_content_type="application/json"
        )
    )


async def publish_only(stub, events: int, concurrency: int) -> None:
    """Publishing alone (a topic nobody subscribes to): the sidecar's publish path."""
    queue = iter(range(events))

    async def worker() -> None:
        for _ in queue:
            await _publish(stub, "publish-only", topic="unsubscribed")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    print(
        f"publish only: {events} publishes in {elapsed:.2f}s = {events / elapsed:,.0f}/s "
        f"(concurrency {concurrency})"
    )


async def _delivered(app_port: int, run: str, count: int, within: float) -> list[float]:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while True:
            latencies = (await client.get(f"http://127.0.0.1:{app_port}/stats/{run}")).json()
            if len(latencies) >= count or time.monotonic() > deadline:
                return latencies
            await asyncio.sleep(0.05)  # polling the app's counter


async def throughput(stub, app_port: int, events: int, concurrency: int) -> None:
    run = uuid.uuid4().hex
    queue = iter(range(events))

    async def worker() -> None:
        for _ in queue:
            await _publish(stub, run)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    published = time.perf_counter() - start
    latencies = await _delivered(app_port, run, events, within=120)
    drained = time.perf_counter() - start
    print(
        f"throughput: {events} publishes in {published:.2f}s = {events / published:,.0f}/s "
        f"(concurrency {concurrency}); all {len(latencies)} delivered after {drained:.2f}s "
        f"= {len(latencies) / drained:,.0f}/s; under this load publish-to-delivery "
        f"p50 {percentile(latencies, 0.5) * 1e3:.1f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1e3:.1f} ms"
    )


async def latency(stub, app_port: int, rate: int, seconds: float) -> None:
    run = uuid.uuid4().hex
    total = int(rate * seconds)
    start = time.perf_counter()
    pending = set()
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the publisher
        task = asyncio.create_task(_publish(stub, run))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    latencies = await _delivered(app_port, run, total, within=60)
    ms = [x * 1e3 for x in latencies]
    print(
        f"latency at {rate}/s for {seconds:.0f}s: {len(ms)}/{total} delivered; "
        f"publish-to-delivery p50 {percentile(ms, 0.5):.1f} ms, "
        f"p95 {percentile(ms, 0.95):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
        f"max {max(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--transport", choices=["kafka", "postgres"], default="kafka")
    args = parser.parse_args()

    from devstack.processes import DaprPair, TansuBroker
    from devstack.pubsub import write_component

    workdir = Path(tempfile.mkdtemp(prefix="bench-pubsub-"))
    broker = None
    if args.transport == "kafka":
        broker = TansuBroker(workdir / "tansu.log").start()
        metadata = {
            "brokers": broker.address,
            "authType": "none",
            "disableTls": "true",
            "consumerGroup": f"bench-{uuid.uuid4().hex[:8]}",
            "initialOffset": "oldest",
        }
        resources = write_component(workdir / "resources", "pubsub.kafka", metadata)
    else:
        name = f"bench_pubsub_{uuid.uuid4().hex[:8]}"
        database = await bench_database(workdir / "pg", name, fresh=True, migrated=False)
        resources = write_component(
            workdir / "resources", "pubsub.postgresql", {"connectionString": database}
        )
    print(f"transport: {args.transport}")
    pair = DaprPair("bench.sidecar_pubsub:app", resources, workdir)
    pair.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{pair.grpc_port}") as channel:
            from dapr.proto.runtime.v1.dapr_pb2_grpc import DaprStub

            stub = DaprStub(channel)
            await _publish(stub, "warmup")
            await publish_only(stub, args.events, args.concurrency)
            await throughput(stub, pair.app_port, args.events, args.concurrency)
            await latency(stub, pair.app_port, args.rate, args.seconds)
    finally:
        pair.stop()
        if broker is not None:
            broker.kill()
    print(f"logs in {workdir}")


if __name__ == "__main__":
    asyncio.run(main())
