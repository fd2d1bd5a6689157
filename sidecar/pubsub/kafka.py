"""`pubsub.kafka` through aiokafka, with the metadata names of Dapr's Kafka component.

`brokers` (comma separated), `consumerGroup` (default: the app id), `clientID`, `authType`
(`none` | `password` with `saslUsername`/`saslPassword`/`saslMechanism` | `mtls` with
`clientCert`/`clientKey`), `caCert`, `disableTls`, `skipVerify`, `initialOffset` (`newest`, the
default, or `oldest`), `sessionTimeout`, `heartbeatInterval`.

The producer waits for all replicas (acks=all) without idempotence: Tansu refuses the
idempotent producer. Records of one partition are delivered in order; partitions are consumed
concurrently. Offsets are committed only once the app has settled a record (delivered,
dead-lettered or dropped), so a crash redelivers: at-least-once. Missing topics are created
when subscribing, so a fresh broker works without a setup step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from sidecar.components import Component, ComponentError
from sidecar.durations import parse_duration
from sidecar.pubsub.cloudevents import is_truthy
from sidecar.pubsub.transport import Handler

log = logging.getLogger(__name__)

_SASL_MECHANISMS = {
    "": "PLAIN",
    "PLAIN": "PLAIN",
    "PLAINTEXT": "PLAIN",
    "SHA-256": "SCRAM-SHA-256",
    "SHA-512": "SCRAM-SHA-512",
}


def client_options(metadata: dict[str, str], app_id: str) -> dict[str, Any]:
    """aiokafka connection keyword arguments for a Dapr Kafka component's metadata."""
    brokers = [b.strip() for b in metadata.get("brokers", "").split(",") if b.strip()]
    if not brokers:
        raise ComponentError("pubsub.kafka needs metadata `brokers`")
    options: dict[str, Any] = {
        "bootstrap_servers": brokers,
        "client_id": metadata.get("clientID") or app_id,
    }
    auth = (metadata.get("authType") or "none").strip().lower()
    tls = not is_truthy(metadata.get("disableTls"))
    if auth == "none":
        options["security_protocol"] = "SSL" if metadata.get("caCert") else "PLAINTEXT"
    elif auth == "password":
        mechanism = (metadata.get("saslMechanism") or "").strip().upper()
        if mechanism not in _SASL_MECHANISMS:
            raise ComponentError(f"pubsub.kafka: unsupported saslMechanism {mechanism!r}")
        options.update(
            security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
            sasl_mechanism=_SASL_MECHANISMS[mechanism],
            sasl_plain_username=metadata.get("saslUsername"),
            sasl_plain_password=metadata.get("saslPassword"),
        )
    elif auth == "mtls":
        if not metadata.get("clientCert") or not metadata.get("clientKey"):
            raise ComponentError("pubsub.kafka authType mtls needs clientCert and clientKey")
        options["security_protocol"] = "SSL"
    else:
        raise ComponentError(f"pubsub.kafka: unsupported authType {auth!r}")
    if options["security_protocol"] in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(metadata)
    return options


def _ssl_context(metadata: dict[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=metadata.get("caCert") or None)
    if is_truthy(metadata.get("skipVerify")):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert, key = metadata.get("clientCert"), metadata.get("clientKey")
    if cert and key:
        # the component carries PEM text; ssl only loads a key pair from files
        with tempfile.TemporaryDirectory() as directory:
            cert_file, key_file = Path(directory, "client.crt"), Path(directory, "client.key")
            cert_file.write_text(cert)
            key_file.write_text(key)
            key_file.chmod(0o600)
            context.load_cert_chain(cert_file, key_file)
    return context


class KafkaTransport:
    def __init__(self, component: Component, app_id: str) -> None:
        metadata = component.metadata
        self._name = component.name
        self._options = client_options(metadata, app_id)
        self._group = metadata.get("consumerGroup") or app_id
        offset = (metadata.get("initialOffset") or "newest").strip().lower()
        self._offset_reset = "earliest" if offset == "oldest" else "latest"
        self._session_ms = _millis(metadata.get("sessionTimeout"), 10_000)
        self._heartbeat_ms = _millis(metadata.get("heartbeatInterval"), 3_000)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    @classmethod
    async def open(cls, component: Component, app_id: str) -> KafkaTransport:
        transport = cls(component, app_id)
        producer = AIOKafkaProducer(acks="all", enable_idempotence=False, **transport._options)
        await producer.start()
        transport._producer = producer
        return transport

    async def publish(
        self, topic: str, body: bytes, *, key: str | None = None, ttl: timedelta | None = None
    ) -> None:
        # Kafka has no per-message TTL: expiry travels in the CloudEvent's `expiration`
        assert self._producer is not None
        await self._producer.send_and_wait(topic, body, key=key.encode() if key else None)

    async def subscribe(self, topics: list[str], handler: Handler) -> None:
        await self._create_missing(topics)
        consumer = AIOKafkaConsumer(
            *topics,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset=self._offset_reset,
            session_timeout_ms=self._session_ms,
            heartbeat_interval_ms=self._heartbeat_ms,
            **self._options,
        )
        await consumer.start()
        self._consumer = consumer
        self._task = asyncio.create_task(
            self._consume(consumer, handler), name=f"kafka-{self._name}"
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def _create_missing(self, topics: list[str]) -> None:
        admin = AIOKafkaAdminClient(**self._options)
        await admin.start()
        try:
            missing = set(topics) - set(await admin.list_topics())
            # another client may create them between the listing and the creation
            with contextlib.suppress(TopicAlreadyExistsError):
                if missing:
                    await admin.create_topics(
                        [NewTopic(n, num_partitions=1, replication_factor=1) for n in missing]
                    )
        finally:
            await admin.close()

    async def _consume(self, consumer: AIOKafkaConsumer, handler: Handler) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000)
            except KafkaError as exc:
                log.warning("fetching from %s failed: %s", self._name, exc)
                await asyncio.sleep(1.0)  # broker trouble: back off before fetching again
                continue
            await asyncio.gather(
                *(self._drain(consumer, tp, records, handler) for tp, records in batches.items())
            )

    async def _drain(
        self,
        consumer: AIOKafkaConsumer,
        partition: TopicPartition,
        records: list[ConsumerRecord],
        handler: Handler,
    ) -> None:
        for record in records:
            await handler(record.topic, record.value, False)
        try:
            await consumer.commit({partition: records[-1].offset + 1})
        except KafkaError as exc:  # e.g. rebalanced meanwhile: the records come again
            log.warning("committing %s on %s failed: %s", partition, self._name, exc)


def _millis(value: str | None, default: int) -> int:
    if not value:
        return default
    return int(parse_duration(value) / timedelta(milliseconds=1))
