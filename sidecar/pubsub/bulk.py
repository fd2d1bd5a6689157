"""Bulk pub/sub as daprd 1.19 serves it: the bulk publish request's parts, and bulk delivery.

Paths are in dapr/dapr (v1.18.3+, master of 2026-08) unless they name components-contrib
(v1.18.4).

Bulk delivery (`BulkDeliverer`) is daprd's bulk handler, `bulkSubscribeTopic` in
pkg/runtime/subscription/bulksubscription.go, with its resiliency loop
(pkg/runtime/subscription/bulkresiliency.go) and the HTTP postman's `DeliverBulk`
(pkg/runtime/subscription/postman/http/http.go):

* each entry of a batch is decoded as a CloudEvent (or, for a `rawPayload` subscription, sent
  as base64), expired and unrouted entries are settled at once (dead-lettered if the
  subscription has a `deadLetterTopic`, the publish error ignored), the rest are POSTed, one
  envelope per route path (pkg/runtime/pubsub/bulksubscribe_events.go);
* the app answers `{"statuses": [{"entryId", "status"}]}`. SUCCESS and DROP settle the entry
  (DROP is dead-lettered one by one); RETRY, an empty or unknown status, or no status at all
  fails it; a body that does not decode fails every entry of the POST; 404 settles every entry
  without dead-lettering; any other status or no answer fails every entry;
* the inbound Resiliency policy re-POSTs only the failed entries, each attempt under its
  timeout; once it is spent, the failed entries go to the `deadLetterTopic` in one bulk
  publish, and if there is none (or that publish fails) they go back to the component with
  their errors, which redelivers them per its own rules (sidecar/pubsub/kafka.py,
  `DefaultBulkSubscriber` below).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from sidecar.pubsub.cloudevents import CLOUDEVENT_CONTENT_TYPE, has_expired
from sidecar.resiliency import InboundPolicy, Retry

if TYPE_CHECKING:
    from sidecar.pubsub.subscriptions import Subscription

log = logging.getLogger(__name__)

# components-contrib pubsub/envelope.go DefaultBulkEventType
BULK_EVENT_TYPE = "com.dapr.event.sent.bulk"
# pkg/runtime/pubsub/subscriptions.go MetadataKeyPubSub: the one key of the envelope metadata
METADATA_KEY_PUBSUB = "pubsubName"
# pkg/runtime/pubsub/default_bulksub.go, for components without their own BulkSubscribe
DEFAULT_MAX_MESSAGES = 100
DEFAULT_MAX_AWAIT_MS = 1000
# components-contrib common/component/kafka/utils.go, pubsub.kafka's own BulkSubscribe
KAFKA_MAX_MESSAGES = 80
KAFKA_MAX_AWAIT_MS = 10_000

_PATIENT = Retry(policy="exponential", initial_interval=0.1, max_interval=5.0, max_elapsed=0)


class BulkError(ValueError):
    """A bad bulk publish request or metadata value; the text is daprd's."""


def parse_go_bool(value: str) -> bool:
    """strconv.ParseBool, as components-contrib metadata.IsRawPayload uses it."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise BulkError(f"rawPayload value must be a valid boolean: actual is '{value}'")


def is_raw_payload(metadata: dict[str, str] | None) -> bool:
    """components-contrib metadata/utils.go IsRawPayload: strict, raises BulkError."""
    value = (metadata or {}).get("rawPayload", "")
    return parse_go_bool(value) if value != "" else False


def merge_entry_metadata(request: dict[str, str], entry: dict[str, str]) -> dict[str, str]:
    """utils/utils.go PopulateMetadataForBulkPublishEntry: the entry's keys win. daprd calls it
    only for an entry that has metadata of its own; an entry without any gets none at all."""
    return {**request, **entry}


def _content_type_is(content_type: str, expected: str) -> bool:
    """components-contrib contenttype/utils.go isContentType."""
    lower = content_type.lower()
    return lower == expected or lower.split(";", 1)[0] == expected


def http_event_bytes(event: Any, content_type: str) -> bytes:
    """pkg/api/http/util.go ConvertEventToBytes: an HTTP bulk entry's `event` as bytes."""
    mismatch = "error: mismatch between contentType and event"
    if _content_type_is(content_type, "application/octet-stream"):
        if not isinstance(event, str):
            raise BulkError(mismatch)
        try:
            return base64.b64decode(event, validate=True)
        except ValueError as exc:
            raise BulkError(
                f"error: unable to decode base64 application/octect-stream data: {exc}"
            ) from exc
    if content_type.lower().startswith("text/") or _content_type_is(
        content_type, "application/xml"
    ):
        if not isinstance(event, str):
            raise BulkError(mismatch)
        return event.encode()
    if _content_type_is(content_type, "application/json") or _content_type_is(
        content_type, CLOUDEVENT_CONTENT_TYPE
    ):
        return go_json(event).encode()
    raise BulkError(mismatch)


def _go_value(value: Any) -> Any:
    """What Go's encoding/json makes of a value decoded into `any` and written out again:
    numbers become float64 (integers above 2^53 lose precision), map keys are sorted."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isfinite(number) and number.is_integer() and abs(number) < 1e21:
            return int(number)
        return number
    if isinstance(value, dict):
        return {k: _go_value(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_go_value(v) for v in value]
    return value


def go_json(value: Any) -> str:
    return json.dumps(_go_value(value), separators=(",", ":"), ensure_ascii=False)


def _json_prefix(text: str) -> Any:
    """json.Decoder.Decode: the first JSON value of the body; what follows is not read."""
    return json.JSONDecoder().raw_decode(text.lstrip(" \t\r\n"))[0]


def _field(obj: dict[str, Any], name: str) -> Any:
    """encoding/json field lookup: the exact key, else a case-insensitive match."""
    if name in obj:
        return obj[name]
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return None


@dataclass(frozen=True)
class BulkSubscribe:
    """A subscription's `bulkSubscribe` (pkg/runtime/pubsub/subscriptions.go); 0 means the
    default of whoever batches (the component, or daprd's default bulk subscriber)."""

    max_messages: int = 0
    max_await_ms: int = 0

    @classmethod
    def parse(cls, item: Any) -> BulkSubscribe | None:
        if not isinstance(item, dict) or _field(item, "enabled") is not True:
            return None
        return cls(
            max_messages=int(_field(item, "maxMessagesCount") or 0),
            max_await_ms=int(_field(item, "maxAwaitDurationMs") or 0),
        )

    def resolved(self, default_count: int, default_await_ms: int) -> tuple[int, float]:
        """utils.GetIntValOrDefault: a value <= 0 is the default. (count, seconds)."""
        count = self.max_messages if self.max_messages > 0 else default_count
        await_ms = self.max_await_ms if self.max_await_ms > 0 else default_await_ms
        return count, await_ms / 1000


@dataclass
class BulkMessage:
    """components-contrib pubsub BulkMessageEntry, as a transport hands it over."""

    entry_id: str
    event: bytes
    metadata: dict[str, str] | None = None
    content_type: str = ""
    expired: bool = False  # the transport knows it outlived its ttl


@dataclass
class BulkResult:
    """What daprd's bulk handler returns to the component: `error` None settles every entry;
    otherwise `errors` (by position; None: settled) says which failed, or, when None, all."""

    errors: list[str | None] | None = None
    error: str | None = None

    def failed(self, index: int) -> bool:
        if self.error is None:
            return False
        return self.errors is None or self.errors[index] is not None


BulkHandler = Callable[[str, list[BulkMessage]], Awaitable[BulkResult]]
# (topic, entries) -> None, or raises: the dead-letter bulk publish
BulkDeadLetter = Callable[[str, list[BulkMessage]], Awaitable[None]]


@dataclass
class _Response:
    entry_id: str = ""
    error: str | None = None


@dataclass
class _Item:
    index: int
    entry: BulkMessage
    wire: dict[str, Any]  # the entry as the envelope carries it
    cloud_event: dict[str, Any] = field(default_factory=dict)


class BulkDeliverer:
    """daprd's bulk handler for one subscription; call it once per batch."""

    def __init__(
        self,
        app_base_url: str,
        session: Callable[[], aiohttp.ClientSession],
        pubsub: str,
        subscription: Subscription,
        dead_letter: BulkDeadLetter,
        inbound: InboundPolicy | None = None,
    ) -> None:
        self._base_url = app_base_url
        self._session = session
        self._pubsub = pubsub
        self._subscription = subscription
        self._dead_letter = dead_letter
        self._inbound = inbound or InboundPolicy()

    async def __call__(self, topic: str, entries: list[BulkMessage]) -> BulkResult:
        subscription = self._subscription
        metadata = {METADATA_KEY_PUBSUB: self._pubsub}
        responses = [_Response() for _ in entries]
        index_of: dict[str, int] = {}
        try:
            raw = is_raw_payload(subscription.metadata)
        except BulkError as exc:
            log.error("error deserializing pubsub metadata: %s", exc)
            if await self._bulk_dead_letter(entries):
                return BulkResult()
            return BulkResult([str(exc)] * len(entries), str(exc))
        any_error, last_error = False, None
        by_path: dict[str, list[_Item]] = {}
        for i, entry in enumerate(entries):
            if not entry.entry_id:
                log.warning("Invalid blank entry id received while processing bulk pub/sub event")
                responses[i].error = "blank entryId supplied - won't be able to process it"
                any_error = True
                continue
            index_of[entry.entry_id] = i
            if raw:
                path = subscription.route_for({})
                if path is None:
                    await self._unrouted(entry, responses[i])
                    continue
                wire = _wire(
                    entry,
                    base64.b64encode(entry.event).decode("ascii"),
                    entry.content_type or "application/octet-stream",
                )
                by_path.setdefault(path, []).append(_Item(i, entry, wire))
                continue
            try:
                event = json.loads(entry.event)
                if event is not None and not isinstance(event, dict):
                    raise ValueError(f"cannot unmarshal {type(event).__name__} into a map")
            except ValueError as exc:
                log.error(
                    "error deserializing one of the messages in bulk cloud event in pubsub %s "
                    "and topic %s: %s",
                    self._pubsub,
                    topic,
                    exc,
                )
                responses[i] = _Response(entry.entry_id, str(exc))
                any_error, last_error = True, str(exc)
                continue
            cloud_event = event or {}
            if entry.expired or has_expired(cloud_event):
                log.warning("dropping expired pub/sub event %s", cloud_event.get("id"))
                await self._single_dead_letter(entry)
                responses[i] = _Response(entry.entry_id, None)
                continue
            path = subscription.route_for(cloud_event)
            if path is None:
                await self._unrouted(entry, responses[i])
                continue
            wire = _wire(entry, event, entry.content_type or CLOUDEVENT_CONTENT_TYPE)
            by_path.setdefault(path, []).append(_Item(i, entry, wire, cloud_event))
        for path, items in by_path.items():
            error = await self._run_policy(path, items, metadata, responses, index_of)
            if error is not None:
                any_error, last_error = True, error
        if any_error:
            failed = [e for e, r in zip(entries, responses, strict=True) if r.error is not None]
            if await self._bulk_dead_letter(failed):
                return BulkResult()
            # with a nil error (a blank entry id alone) daprd acknowledges the batch
            return BulkResult([r.error for r in responses], last_error)
        return BulkResult([r.error for r in responses], None)

    async def _unrouted(self, entry: BulkMessage, response: _Response) -> None:
        log.warning(
            "No matching route for event in pubsub %s and topic %s; skipping",
            self._pubsub,
            self._subscription.topic,
        )
        await self._single_dead_letter(entry)
        response.entry_id, response.error = entry.entry_id, None

    async def _single_dead_letter(self, entry: BulkMessage) -> None:
        """`_ = s.sendToDeadLetter(...)`: the outcome is ignored, the entry settled anyway."""
        topic = self._subscription.dead_letter_topic
        if not topic:
            return
        try:
            await self._dead_letter(topic, [entry])
        except Exception as exc:  # daprd drops the error: the entry is settled regardless
            log.error("error sending message to dead letter %s: %s", topic, exc)

    async def _bulk_dead_letter(self, entries: list[BulkMessage]) -> bool:
        """sendBulkToDLQIfConfigured: True once they are all in the dead-letter topic."""
        topic = self._subscription.dead_letter_topic
        if not topic:
            return False
        try:
            await self._dead_letter(topic, entries)
        except Exception as exc:  # the component gets the entries back with their errors
            log.error("error sending message to dead letter %s: %s", topic, exc)
            return False
        return True

    async def _run_policy(
        self,
        path: str,
        items: list[_Item],
        metadata: dict[str, str],
        responses: list[_Response],
        index_of: dict[str, int],
    ) -> str | None:
        """applyBulkSubscribeResiliency: attempts until none fails or the policy is spent;
        each retry POSTs only the entries that failed. Returns the last attempt's error."""
        pending = items
        delays = self._inbound.delays()
        unreachable = _PATIENT.delays()
        error: str | None = None
        while True:
            attempt: list[_Response] = []
            try:
                async with asyncio.timeout(self._inbound.timeout):
                    error = await self._post(path, pending, metadata, attempt, index_of)
            except TimeoutError:
                error = "context deadline exceeded"
                attempt = [_Response(item.entry.entry_id, error) for item in pending]
            except _Unreachable:
                await asyncio.sleep(next(unreachable))  # the app is down: no attempt spent
                continue
            for response in attempt:  # the Accumulator
                if (index := index_of.get(response.entry_id)) is not None:
                    responses[index] = response
            pending = [item for item in pending if responses[item.index].error is not None]
            if error is None:
                break
            delay = next(delays, None)
            if delay is None:
                break
            await asyncio.sleep(delay)  # the resiliency policy's backoff
        for entry_id, index in index_of.items():  # entries no attempt touched
            if not responses[index].entry_id:
                responses[index] = _Response(entry_id, error)
        return error

    async def _post(
        self,
        path: str,
        items: list[_Item],
        metadata: dict[str, str],
        attempt: list[_Response],
        index_of: dict[str, int],
    ) -> str | None:
        """The HTTP postman's DeliverBulk; fills `attempt`, returns the overall error."""
        envelope = {
            "entries": [item.wire for item in items],
            "id": str(uuid.uuid4()),
            "metadata": metadata,
            "pubsubname": self._pubsub,
            "topic": self._subscription.topic,
            "type": BULK_EVENT_TYPE,
        }
        headers = {"content-type": "application/json", **metadata}
        for item in items:  # the outgoing call carries the last entry's trace context
            if isinstance(trace := item.cloud_event.get("traceparent"), str) and trace:
                headers["traceparent"] = trace
        if not path.startswith("/"):
            path = "/" + path
        try:
            async with self._session().post(
                self._base_url + path, data=_dumps_wire(envelope), headers=headers
            ) as response:
                status_code, text = response.status, await response.text(errors="replace")
        except aiohttp.ClientConnectorError as exc:
            log.warning("app unreachable for a bulk pub/sub event: %s", exc)
            raise _Unreachable from exc
        except aiohttp.ClientError as exc:
            error = f"error from app channel while sending pub/sub event to app: {exc}"
            attempt.extend(_Response(item.entry.entry_id, error) for item in items)
            return error
        if 200 <= status_code <= 299:
            return await _read_statuses(text, items, attempt, index_of, self._dead_letter_drop)
        if status_code == 404:
            log.error(
                "Non-retriable error returned from app while processing bulk pub/sub event. "
                "status code returned: %s",
                status_code,
            )
            attempt.extend(_Response(item.entry.entry_id, None) for item in items)
            return None
        error = (
            "Retriable error returned from app while processing bulk pub/sub event, "
            f"topic: {self._subscription.topic}. status code returned: {status_code}"
        )
        log.warning(error)
        attempt.extend(_Response(item.entry.entry_id, error) for item in items)
        return error

    def _dead_letter_drop(self, entry: BulkMessage) -> Awaitable[None]:
        return self._single_dead_letter(entry)


class _Unreachable(Exception):
    """No answer at all from the app: wait for it, spending no attempt."""


def _wire(entry: BulkMessage, event: Any, content_type: str) -> dict[str, Any]:
    """pkg/runtime/pubsub/bulksubscribe_events.go BulkSubscribeMessageItem, field order kept."""
    wire: dict[str, Any] = {
        "entryId": entry.entry_id,
        "event": event,
        "metadata": entry.metadata,
    }
    if content_type:
        wire["contentType"] = content_type
    return wire


def _dumps_wire(envelope: dict[str, Any]) -> bytes:
    entries = [
        {**wire, "event": _go_value(wire["event"]), "metadata": _go_value(wire["metadata"])}
        for wire in envelope["entries"]
    ]
    return json.dumps(
        {**envelope, "entries": entries, "metadata": _go_value(envelope["metadata"])},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def _read_statuses(
    text: str,
    items: list[_Item],
    attempt: list[_Response],
    index_of: dict[str, int],
    drop: Callable[[BulkMessage], Awaitable[None]],
) -> Awaitable[str | None]:
    async def read() -> str | None:
        try:
            statuses = _decode_statuses(text)
        except ValueError as exc:
            error = f"failed unmarshalling app response for bulk subscribe: {exc}"
            attempt.extend(_Response(item.entry.entry_id, error) for item in items)
            return error
        by_index = {item.index: item for item in items}
        answered: set[str] = set()
        any_error = False
        for entry_id, status in statuses:
            if entry_id not in index_of:
                log.warning(
                    "Invalid entry id received from app while processing pub/sub event %s", entry_id
                )
                continue
            answered.add(entry_id)
            if status in ("", "RETRY"):
                attempt.append(
                    _Response(
                        entry_id,
                        "RETRY required while processing bulk subscribe event for entry id: "
                        + entry_id,
                    )
                )
                any_error = True
            elif status == "SUCCESS":
                attempt.append(_Response(entry_id, None))
            elif status == "DROP":
                log.warning(
                    "DROP status returned from app while processing pub/sub event %s", entry_id
                )
                attempt.append(_Response(entry_id, None))
                if (item := by_index.get(index_of[entry_id])) is not None:
                    await drop(item.entry)
            else:
                attempt.append(
                    _Response(
                        entry_id,
                        "unknown status returned from app while processing bulk subscribe "
                        f"event {entry_id}: {status}",
                    )
                )
                any_error = True
        for item in items:
            if item.entry.entry_id not in answered:
                attempt.append(
                    _Response(
                        item.entry.entry_id,
                        "response not received, RETRY required while processing bulk "
                        f"subscribe event for entry id: {item.entry.entry_id}",
                    )
                )
                any_error = True
        return "few message(s) have failed during bulk subscribe operation" if any_error else None

    return read()


def _decode_statuses(text: str) -> list[tuple[str, str]]:
    """contribpubsub.AppBulkResponse as encoding/json decodes it; ValueError where Go fails
    (an empty body too: io.EOF)."""
    if not text.strip():
        raise ValueError("EOF")
    body = _json_prefix(text)
    if body is None:
        return []
    if not isinstance(body, dict):
        raise ValueError(f"cannot unmarshal {type(body).__name__} into AppBulkResponse")
    statuses = _field(body, "statuses")
    if statuses is None:
        return []
    if not isinstance(statuses, list):
        raise ValueError("cannot unmarshal statuses into []AppBulkResponseEntry")
    decoded = []
    for status in statuses:
        if status is None:
            decoded.append(("", ""))
            continue
        if not isinstance(status, dict):
            raise ValueError("cannot unmarshal a status into AppBulkResponseEntry")
        entry_id, value = _field(status, "entryId"), _field(status, "status")
        if not isinstance(entry_id, (str, type(None))) or not isinstance(value, (str, type(None))):
            raise ValueError("cannot unmarshal entryId/status: not a string")
        decoded.append((entry_id or "", value or ""))
    return decoded


class DefaultBulkSubscriber:
    """pkg/runtime/pubsub/default_bulksub.go, for a transport without its own bulk consumer
    (here pubsub.postgresql, which daprd does not have at all): the transport's per-message
    handler waits while messages gather into a batch, flushed once `max_messages` are in or
    `max_await` seconds after the first of the batch; batches go out one at a time. Each
    message gets a fresh uuid entry id. A failed entry fails its message, which the component
    redelivers after its `backOff*` wait (a new entry id, in a later batch), dropping it with
    a log line once those retries are spent, as sidecar/pubsub/delivery.py does for one."""

    def __init__(
        self,
        topic: str,
        handler: BulkHandler,
        max_messages: int,
        max_await: float,
        component_retry: Retry,
    ) -> None:
        self._topic = topic
        self._handler = handler
        self.max_messages = max_messages
        self._max_await = max_await
        self._component_retry = component_retry
        self._queue: asyncio.Queue[tuple[BulkMessage, asyncio.Future[str | None]]] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    async def __call__(self, topic: str, body: bytes, expired: bool = False) -> None:
        """The transport's Handler: returns once the message is settled or dropped."""
        if self._task is None:
            self._task = asyncio.create_task(self._batches(), name=f"bulk-{self._topic}")
        delays: Iterator[float] = self._component_retry.delays()
        while True:
            done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            message = BulkMessage(str(uuid.uuid4()), body, None, "", expired)
            await self._queue.put((message, done))
            error = await done
            if error is None:
                return
            delay = next(delays, None)
            if delay is None:
                log.error("too many failed attempts at a message on %s; dropping it", topic)
                return
            await asyncio.sleep(delay)  # the component's backoff before it redelivers

    async def _batches(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self._max_await
            while len(batch) < self.max_messages:
                if not self._queue.empty():  # drainChannel: take what is already waiting
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[BulkMessage, asyncio.Future[str | None]]]) -> None:
        messages = [message for message, _ in batch]
        try:
            result = await self._handler(self._topic, messages)
        except Exception as exc:  # a bug must not wedge the topic: fail the batch
            log.exception("bulk delivery on %s failed", self._topic)
            result = BulkResult(None, str(exc))
        for index, (_, done) in enumerate(batch):
            if done.done():
                continue
            if result.error is None:
                done.set_result(None)
            elif result.errors is None:
                done.set_result(result.error)
            else:
                done.set_result(result.errors[index])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
