"""The outbox relay: publishes committed events through Dapr pub/sub, then marks them sent.

A row is marked only after every publish of it succeeded, in the transaction that claimed
it, so a crash or an outage can only cause a re-publish (consumers dedupe by event id),
never a loss. Commits wake the relay at once; a slow poll covers other processes' commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from dapr.aio.clients import DaprClient
from dapr.clients import BulkPublishEntry
from dapr.clients.http.helpers import get_api_url
from dapr.conf import settings as dapr_settings
from pydantic import ValidationError

from domain.events import DEAD_LETTERS, fan_out, parse_event
from store import outbox
from store.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

CLOUDEVENT = "application/cloudevents+json"
# Longer than daprd's whole retry budget for one publish (the `publish` retry policy and
# the pubsub outbound timeout in components/kubernetes/resiliency.yaml and the chart: at
# worst 4 tries x 5 s + 3.6 s of back-off = 23.6 s), so the relay never cancels a publish
# that daprd is still retrying, and then publishes it a second time from the outbox.
# tests/unit/messaging/test_publish_budget.py computes the budget from the YAML and checks this.
PUBLISH_TIMEOUT = 30.0


@dataclass(frozen=True)
class Outgoing:
    """One outbox row on its way out: its id, partition key, topics and CloudEvent JSON."""

    row_id: int
    key: str
    topics: list[str]
    body: bytes


class SidecarUnavailable(Exception):
    """The sidecar did not answer its health check: publish later."""


class PublishRefused(Exception):
    """A bulk publish came back with failed entries: publish them later."""


def malformed_cloudevent(payload: dict[str, Any]) -> dict[str, Any]:
    """What the relay publishes to dlq-events in place of an outbox payload that no event
    type accepts: the payload as data, under its own event id."""
    return {
        "specversion": "1.0",
        "id": str(payload.get("event_id")),
        "source": "tickler",
        "type": "tickler.malformed",
        "datacontenttype": "application/json",
        "data": payload,
    }


def cloudevent(
    payload: dict[str, Any], traceparent: str | None = None
) -> tuple[list[str], bytes, str]:
    """(topics, CloudEvent JSON, partition key) for one outbox payload. Task events also go
    to the change feed. A payload no event class accepts goes to the dead-letter topic.
    `traceparent` is the writer's trace context; daprd keeps a CloudEvent's trace fields
    only when it has `traceid` too (pkg/runtime/pubsub/envelope.go), so both are set."""
    try:
        event = parse_event(payload)
    except (KeyError, ValidationError) as exc:
        log.error(
            "outbox event %s is malformed, dead-lettering it: %s", payload.get("event_id"), exc
        )
        body = malformed_cloudevent(payload)
        return [DEAD_LETTERS], json.dumps(body).encode(), str(payload.get("task_id"))
    body = {
        "specversion": "1.0",
        "id": str(event.event_id),
        "source": "tickler",
        "type": event.cloudevent_type,
        "subject": str(event.task_id),
        "time": event.occurred_at.isoformat(),
        "dataschemaversion": event.schema_version,
        "datacontenttype": "application/json",
        "data": event.model_dump(mode="json"),
    }
    if traceparent:
        body["traceparent"] = body["traceid"] = traceparent
    return fan_out(event.topic), json.dumps(body).encode(), str(event.task_id)


class Relay:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        pubsub: str,
        *,
        batch: int = 100,
        poll: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        self._uow_factory = uow_factory
        self._pubsub = pubsub
        self._batch = batch
        self._poll = poll
        self._backoff = backoff
        self._wake = asyncio.Event()
        self._client: DaprClient | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        delay, failing = self._backoff[0], False
        try:
            while True:
                self._wake.clear()  # before draining: a commit during the drain re-arms it
                try:
                    claimed = self._batch
                    while claimed == self._batch:  # a full batch: more may be waiting
                        claimed = await self._publish_batch()
                except Exception as exc:  # sidecar, broker or database down: rows stay put
                    if not failing:
                        detail = " ".join(str(exc).split())[:300]
                        log.warning("outbox relay paused: %s: %s", type(exc).__name__, detail)
                    failing = True
                    await self._drop_client()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._backoff[1])
                    continue
                if failing:
                    log.info("outbox relay resumed")
                delay, failing = self._backoff[0], False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
        finally:
            await self._drop_client()

    async def _publish_batch(self) -> int:
        async with self._uow_factory() as uow:
            rows = await outbox.claim_unpublished(uow.conn, self._batch)
            if not rows:
                return 0
            client = await self._connect()
            # One sequence per task keeps its events in order. Bulk publish promises no order
            # within a request, so each request carries at most one event per task: round k
            # holds the k-th event of every sequence, one bulk publish per topic, and a task
            # whose event failed sends nothing after it.
            sequences: dict[str, list[Outgoing]] = {}
            for row in rows:
                topics, body, key = cloudevent(row.payload, row.trace_parent)
                if row.redrive_topic:  # a dead letter's redrive goes back where it failed
                    topics = [row.redrive_topic]
                sequences.setdefault(key, []).append(Outgoing(row.id, key, topics, body))
            sent: list[int] = []
            blocked: set[str] = set()
            refused = 0
            try:
                for k in range(max(len(s) for s in sequences.values())):
                    batch = [
                        s[k] for key, s in sequences.items() if k < len(s) and key not in blocked
                    ]
                    failed = await self._publish_round(client, batch)
                    for item in batch:
                        if item.row_id in failed:
                            blocked.add(item.key)
                        else:
                            sent.append(item.row_id)
                    refused += len(failed)
            finally:
                if sent:  # keep what did go out, even when other rows failed
                    await outbox.mark_published(uow.conn, sent)
                    await uow.commit()
            if refused:  # back off as after an outage: they stay in the outbox
                raise PublishRefused(f"the sidecar did not take {refused} event(s)")
            return len(rows)

    async def _publish_round(self, client: DaprClient, batch: list[Outgoing]) -> set[int]:
        """One bulk publish per topic of these events (one per task); the ids of the rows
        that some topic did not take."""
        by_topic: dict[str, list[Outgoing]] = {}
        for item in batch:
            for topic in item.topics:
                by_topic.setdefault(topic, []).append(item)

        async def publish(topic: str, items: list[Outgoing]) -> set[int]:
            # a hung sidecar must not hold the claimed rows' locks for ever
            response = await asyncio.wait_for(
                client.publish_events(
                    self._pubsub,
                    topic,
                    [
                        BulkPublishEntry(
                            event=item.body,
                            content_type=CLOUDEVENT,
                            entry_id=str(item.row_id),
                            metadata={"partitionKey": item.key},
                        )
                        for item in items
                    ],
                ),
                PUBLISH_TIMEOUT,
            )
            return {int(entry.entry_id) for entry in response.failed_entries}

        outcomes = await asyncio.gather(*(publish(t, i) for t, i in by_topic.items()))
        return set().union(*outcomes)

    async def _connect(self) -> DaprClient:
        if self._client is None:
            # The SDK's constructor polls the sidecar's health synchronously for up to a
            # minute; probe it here without blocking the loop, so it answers at once.
            headers = {}
            if dapr_settings.DAPR_API_TOKEN:
                headers["dapr-api-token"] = dapr_settings.DAPR_API_TOKEN
            try:
                async with httpx.AsyncClient(timeout=1.0) as probe:
                    ok = (
                        await probe.get(f"{get_api_url()}/healthz/outbound", headers=headers)
                    ).is_success
            except httpx.HTTPError as exc:
                raise SidecarUnavailable(f"sidecar unreachable: {exc}") from exc
            if not ok:
                raise SidecarUnavailable("sidecar not healthy")
            self._client = DaprClient()
        return self._client

    async def _drop_client(self) -> None:
        """A fresh channel after an outage reconnects at once, not after gRPC's backoff."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
