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

Bulk subscriptions follow pubsub.kafka's own BulkSubscribe (components-contrib v1.18.4
common/component/kafka/consumer.go ConsumeClaim/flushBulkMessages/doBulkCallback): records of
one partition gather until `maxMessagesCount` (default 80) are in, or a ticker of
`maxAwaitDurationMs` (default 10000, restarted only by a count flush) fires. Entry ids are the
positions "0", "1", ...; entry metadata is `__key`, `__offset`, `__topic`, `__timestamp`,
`__partition` and the record headers. After a failed batch the leading entries up to the first
failed one are committed, and the WHOLE batch (the settled entries too) is handed over again
after the `backOff*` wait, unless `consumeRetryEnabled` is false; once the retries are spent
the batch is left behind, and the next settled batch commits past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
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
from sidecar.pubsub.bulk import BulkMessage
from sidecar.pubsub.cloudevents import is_truthy
from sidecar.pubsub.transport import BulkSpec, Handler
from sidecar.resiliency import Retry

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
        self._bulk: dict[str, BulkSpec] = {}
        self._batchers: dict[TopicPartition, _PartitionBatcher] = {}
        self._component_retry = Retry.from_component_metadata(metadata)
        raw_retry = (metadata.get("consumeRetryEnabled") or "").strip()
        # pubsub.kafka turns consumer retries on by default (pubsub/kafka/kafka.go NewKafka)
        self._retry_enabled = raw_retry == "" or is_truthy(raw_retry)

    @classmethod
    async def open(cls, component: Component, app_id: str) -> KafkaTransport:
        transport = cls(component, app_id)
        # One record per batch: Tansu 0.6 answers a multi-record batch's produce with a high
        # watermark one past the batch's first record, not its last (3 records at offsets
        # 0-2 leave ListOffsets at 1), so consumer lag and committed offsets disagree with
        # the log end. Records to one partition still go out in order, one request each.
        producer = AIOKafkaProducer(
            acks="all", enable_idempotence=False, max_batch_size=1, **transport._options
        )
        await producer.start()
        transport._producer = producer
        return transport

    async def publish(
        self, topic: str, body: bytes, *, key: str | None = None, ttl: timedelta | None = None
    ) -> None:
        # Kafka has no per-message TTL: expiry travels in the CloudEvent's `expiration`
        assert self._producer is not None
        await self._producer.send_and_wait(topic, body, key=key.encode() if key else None)

    async def publish_many(
        self, topic: str, messages: list[tuple[str, bytes, str | None]]
    ) -> list[tuple[str, str]]:
        """pubsub.kafka's BulkPublish (common/component/kafka/producer.go): every record sent
        at once; returns (entry id, error) for the records the broker did not take."""
        assert self._producer is not None
        producer = self._producer

        async def send(body: bytes, key: str | None) -> None:
            future = await producer.send(topic, body, key=key.encode() if key else None)
            await future

        outcomes = await asyncio.gather(
            *(send(body, key) for _, body, key in messages), return_exceptions=True
        )
        return [
            (entry_id, str(outcome) or type(outcome).__name__)
            for (entry_id, _, _), outcome in zip(messages, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]

    async def subscribe(
        self, topics: list[str], handler: Handler, bulk: dict[str, BulkSpec] | None = None
    ) -> None:
        """`bulk`: the topics consumed in batches, with their batch size, wait and handler."""
        self._bulk = dict(bulk or {})
        topics = [*topics, *(t for t in self._bulk if t not in topics)]
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
        batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            await batcher.close()
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
            single = {tp: r for tp, r in batches.items() if tp.topic not in self._bulk}
            for tp, records in batches.items():
                if tp.topic in self._bulk:
                    await self._batcher(consumer, tp).put(records)
            await asyncio.gather(
                *(self._drain(consumer, tp, records, handler) for tp, records in single.items())
            )

    def _batcher(self, consumer: AIOKafkaConsumer, partition: TopicPartition) -> _PartitionBatcher:
        if (batcher := self._batchers.get(partition)) is None:
            batcher = _PartitionBatcher(
                self._name,
                consumer,
                partition,
                self._bulk[partition.topic],
                self._component_retry if self._retry_enabled else None,
            )
            self._batchers[partition] = batcher
        return batcher

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


class _PartitionBatcher:
    """ConsumeClaim's bulk loop for one partition, in its own task."""

    def __init__(
        self,
        name: str,
        consumer: AIOKafkaConsumer,
        partition: TopicPartition,
        spec: BulkSpec,
        retry: Retry | None,
    ) -> None:
        self._name = name
        self._consumer = consumer
        self._partition = partition
        self._max_messages, self._period, self._handler = spec
        self._retry = retry
        # sarama's per-partition channel buffer (ChannelBufferSize 256) bounds the backlog
        self._queue: asyncio.Queue[ConsumerRecord] = asyncio.Queue(maxsize=256)
        self._task = asyncio.create_task(self._run(), name=f"kafka-bulk-{partition}")

    async def put(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            await self._queue.put(record)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = loop.time() + self._period
        records: list[ConsumerRecord] = []
        while True:
            try:
                async with asyncio.timeout(max(tick - loop.time(), 0)):
                    record = await self._queue.get()
            except TimeoutError:
                await self._flush(records)  # the ticker: flush whatever is in, if anything
                records = []
                # a Go ticker drops the ticks a slow receiver missed
                now = loop.time()
                tick += self._period * max(1, math.ceil((now - tick) / self._period))
                continue
            records.append(record)
            if len(records) >= self._max_messages:
                await self._flush(records)
                records = []
                tick = loop.time() + self._period  # ticker.Reset after a count flush

    async def _flush(self, records: list[ConsumerRecord]) -> None:
        if not records:
            return
        delays = self._retry.delays() if self._retry is not None else iter(())
        while not await self._attempt(records):
            delay = next(delays, None)
            if delay is None:
                log.error(
                    "Too many failed attempts at processing Kafka message: %s",
                    self._partition.topic,
                )
                return
            log.warning("Error processing Kafka bulk messages: %s. Retrying...", self._partition)
            await asyncio.sleep(delay)  # the component's backoff, then the whole batch again

    async def _attempt(self, records: list[ConsumerRecord]) -> bool:
        entries = [
            BulkMessage(str(i), record.value or b"", _event_metadata(record))
            for i, record in enumerate(records)
        ]
        try:
            result = await self._handler(self._partition.topic, entries)
        except Exception:  # a bug must not wedge the partition: the batch fails
            log.exception("bulk delivery on %s failed", self._partition)
            return False
        settled = len(records)
        if result.error is not None:
            # doBulkCallback marks the leading entries up to the first failed one
            settled = 0
            for i in range(len(records)):
                if result.errors is None or result.errors[i] is not None:
                    break
                settled = i + 1
        if settled:
            try:
                await self._consumer.commit({self._partition: records[settled - 1].offset + 1})
            except KafkaError as exc:  # e.g. rebalanced meanwhile: the records come again
                log.warning("committing %s on %s failed: %s", self._partition, self._name, exc)
        return result.error is None


def _event_metadata(record: ConsumerRecord) -> dict[str, str]:
    """common/component/kafka/consumer.go GetEventMetadata (escapeHeaders off)."""
    metadata: dict[str, str] = {}
    if record.key is not None:
        metadata["__key"] = record.key.decode("utf-8", errors="replace")
    metadata["__offset"] = str(record.offset)
    metadata["__topic"] = record.topic
    metadata["__timestamp"] = str(record.timestamp)
    metadata["__partition"] = str(record.partition)
    for name, value in record.headers or ():
        metadata[name] = (value or b"").decode("utf-8", errors="replace")
    return metadata


def _millis(value: str | None, default: int) -> int:
    if not value:
        return default
    return int(parse_duration(value) / timedelta(milliseconds=1))
