"""Delivering one message to the app, with daprd's outcome rules, retries and dead-lettering.

An app that does not answer at all (down, restarting) costs no attempt: delivery waits for it,
as daprd pauses subscriptions while the app is unhealthy, so nothing published meanwhile is
lost. The app answers a POSTed CloudEvent with 2xx and `{"status": "SUCCESS"|"RETRY"|"DROP"}` (an
empty or non-JSON 2xx body is success), 404 (logged and dropped, never retried), or anything
else (retried). Retries back off exponentially; the policy comes from the component metadata
Dapr's components use for this (`backOffInitialInterval`, `backOffMaxInterval`,
`backOffMaxRetries`). Our defaults: 100ms doubling up to 5s, 4 retries, so 5 attempts in all.
After the last failed attempt, on DROP, on expiry and when no route matches, the message goes
to the subscription's `deadLetterTopic` (republished unchanged to the same pubsub) if it has
one; otherwise it is dropped with a log line.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from sidecar.app_channel import AppChannel
from sidecar.durations import parse_duration
from sidecar.pubsub.cloudevents import CLOUDEVENT_CONTENT_TYPE, from_raw_payload, has_expired
from sidecar.pubsub.subscriptions import Subscription

log = logging.getLogger(__name__)

DeadLetter = Callable[[str, bytes], Awaitable[None]]  # (topic, body) -> published


class Outcome(enum.Enum):
    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    DROP = "DROP"
    NOT_FOUND = "NOT_FOUND"  # 404 from the app: daprd logs it and acknowledges
    UNREACHABLE = "UNREACHABLE"  # no answer at all: wait for the app, spend no attempt


@dataclass(frozen=True)
class RetryPolicy:
    initial: float = 0.1
    maximum: float = 5.0
    max_retries: int = 4

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> RetryPolicy:
        policy = cls()
        initial = metadata.get("backOffInitialInterval")
        maximum = metadata.get("backOffMaxInterval")
        retries = metadata.get("backOffMaxRetries")
        return cls(
            initial=parse_duration(initial).total_seconds() if initial else policy.initial,
            maximum=parse_duration(maximum).total_seconds() if maximum else policy.maximum,
            max_retries=int(retries) if retries else policy.max_retries,
        )

    def delays(self) -> Iterator[float]:
        """The pause before each retry; `max_retries` < 0 retries for ever, as in Dapr."""
        delay, count = self.initial, 0
        while self.max_retries < 0 or count < self.max_retries:
            yield delay
            delay, count = min(delay * 2, self.maximum), count + 1


class Deliverer:
    """Hands messages of one pubsub component to the app; call it once per message."""

    def __init__(
        self,
        app: AppChannel,
        pubsub: str,
        subscriptions: list[Subscription],
        policy: RetryPolicy,
        dead_letter: DeadLetter,
    ) -> None:
        self._app = app
        self._pubsub = pubsub
        self._subscriptions = {s.topic: s for s in subscriptions}
        self._policy = policy
        self._dead_letter = dead_letter
        self._http: aiohttp.ClientSession | None = None

    @property
    def topics(self) -> list[str]:
        return list(self._subscriptions)

    async def __call__(self, topic: str, body: bytes, expired: bool = False) -> None:
        """Returns once the message is settled: delivered, dead-lettered or dropped.

        `expired`: the transport knows the message outlived its `ttlInSeconds`.
        """
        subscription = self._subscriptions[topic]
        if subscription.raw_payload:
            event = from_raw_payload(body, topic, self._pubsub)
            payload = json.dumps(event).encode()
        else:
            event, payload = _decode(body), body
            if event is None:
                log.error("message on %s/%s is not a CloudEvent", self._pubsub, topic)
                await self._give_up(subscription, body, "undecodable")
                return
        event_id = event.get("id")
        if expired or has_expired(event):
            log.warning("dropping expired pub/sub event %s", event_id)
            await self._give_up(subscription, body, "expired")
            return
        path = subscription.route_for(event)
        if path is None:
            log.debug("no matching route for event %s on %s/%s", event_id, self._pubsub, topic)
            await self._give_up(subscription, body, "unrouted")
            return
        headers = {"content-type": CLOUDEVENT_CONTENT_TYPE}
        if traceparent := event.get("traceparent"):
            headers["traceparent"] = str(traceparent)
        delays = self._policy.delays()
        unreachable = RetryPolicy(self._policy.initial, self._policy.maximum, -1).delays()
        while True:
            outcome = await self._post(path, payload, headers, event_id)
            if outcome in (Outcome.SUCCESS, Outcome.NOT_FOUND):
                return
            if outcome is Outcome.UNREACHABLE:
                await asyncio.sleep(next(unreachable))  # the app is down: wait for it to return
                continue
            if outcome is Outcome.DROP:
                log.warning("DROP status returned from app for pub/sub event %s", event_id)
                await self._give_up(subscription, body, "dropped by the app")
                return
            delay = next(delays, None)
            if delay is None:
                log.error(
                    "pub/sub event %s on %s/%s failed every attempt", event_id, self._pubsub, topic
                )
                await self._give_up(subscription, body, "retries exhausted")
                return
            await asyncio.sleep(delay)  # backoff before the next attempt

    async def _post(
        self, path: str, payload: bytes, headers: dict[str, str], event_id: Any
    ) -> Outcome:
        if not path.startswith("/"):
            path = "/" + path
        try:
            async with self._session().post(
                self._app.base_url + path, data=payload, headers=headers
            ) as response:
                status_code, text = response.status, await response.text(errors="replace")
        except aiohttp.ClientConnectorError as exc:
            log.warning("app unreachable for pub/sub event %s: %s", event_id, exc)
            return Outcome.UNREACHABLE
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("calling the app for pub/sub event %s failed: %r", event_id, exc)
            return Outcome.RETRY
        if 200 <= status_code < 300:
            try:
                answer = json.loads(text)
            except ValueError:
                return Outcome.SUCCESS
            status = answer.get("status", "") if isinstance(answer, dict) else ""
            if status in ("", "SUCCESS"):
                return Outcome.SUCCESS
            if status == "DROP":
                return Outcome.DROP
            if status != "RETRY":
                log.warning("unknown status %r from app for pub/sub event %s", status, event_id)
            return Outcome.RETRY
        if status_code == 404:
            log.error("non-retriable 404 from app for pub/sub event %s: %s", event_id, text[:500])
            return Outcome.NOT_FOUND
        log.warning(
            "retriable %s from app for pub/sub event %s: %s", status_code, event_id, text[:500]
        )
        return Outcome.RETRY

    def _session(self) -> aiohttp.ClientSession:
        # aiohttp rather than the AppChannel's httpx client: httpx's connection pool
        # collapses under many concurrent requests (63 vs 490 POSTs/s at 64 in flight)
        if self._http is None:
            headers = {}
            if token := os.environ.get("APP_API_TOKEN"):
                headers["dapr-api-token"] = token  # as AppChannel does
            self._http = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=60),
                connector=aiohttp.TCPConnector(limit=200),
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _give_up(self, subscription: Subscription, body: bytes, why: str) -> None:
        topic = subscription.dead_letter_topic
        if not topic:
            log.warning(
                "dropping message on %s/%s (%s): no deadLetterTopic",
                self._pubsub,
                subscription.topic,
                why,
            )
            return
        delays = RetryPolicy(max_retries=-1).delays()
        while True:
            try:
                await self._dead_letter(topic, body)
                log.info(
                    "sent message on %s/%s to dead-letter topic %s (%s)",
                    self._pubsub,
                    subscription.topic,
                    topic,
                    why,
                )
                return
            except Exception as exc:  # a failed publish must not lose the message: retry it
                log.error("dead-lettering to %s/%s failed: %s", self._pubsub, topic, exc)
                await asyncio.sleep(next(delays))  # backoff while the transport recovers


def _decode(body: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(body)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
