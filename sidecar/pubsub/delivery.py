"""Delivering one message to the app, with daprd's outcome rules, retries and dead-lettering.

An app that does not answer at all (down, restarting) costs no attempt: delivery waits for it,
as daprd pauses subscriptions while the app fails its health checks (dapr.yaml and the chart
turn them on), so nothing published meanwhile is lost. The app answers a POSTed CloudEvent
with 2xx and `{"status": "SUCCESS"|"RETRY"|"DROP"}` (an empty or non-JSON 2xx body is
success), 404 (dropped: never retried) or anything else (a failure). This follows
`pkg/runtime/subscription/postman/http/http.go`.

As in `pkg/runtime/subscription/subscription.go`, each delivery runs under the component's
inbound Resiliency policy (sidecar/resiliency.py): its timeout bounds every attempt, and its
retries are the only retries before dead-lettering. So with a `deadLetterTopic` and no
inbound retry policy, the first failure (RETRY, a non-2xx, a timeout) dead-letters. DROP and
404 are dead-lettered at once when there is a `deadLetterTopic`, and acknowledged otherwise.
An expired or unrouted event is dead-lettered if it can be, and acknowledged.

Without a `deadLetterTopic`, a failed delivery goes back to the component, which redelivers
it per its `backOff*` metadata (dapr/kit retry, as Dapr's components decode it: by default
every 5 s for ever, holding back the events behind it) and, once those retries are spent,
drops it with a log line. A message that is not a CloudEvent fails the same way.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from sidecar.app_channel import AppChannel
from sidecar.pubsub.cloudevents import CLOUDEVENT_CONTENT_TYPE, from_raw_payload, has_expired
from sidecar.pubsub.subscriptions import Subscription
from sidecar.resiliency import InboundPolicy, Retry

log = logging.getLogger(__name__)

DeadLetter = Callable[[str, bytes], Awaitable[None]]  # (topic, body) -> published


class Outcome(enum.Enum):
    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    DROP = "DROP"
    NOT_FOUND = "NOT_FOUND"  # 404 from the app: never retried, dead-lettered if it can be
    UNREACHABLE = "UNREACHABLE"  # no answer at all: wait for the app, spend no attempt


# How long to wait for an app that does not answer, or for a dead-letter publish to go
# through: patiently, costing no attempt.
_PATIENT = Retry(policy="exponential", initial_interval=0.1, max_interval=5.0, max_elapsed=0)


class Deliverer:
    """Hands messages of one pubsub component to the app; call it once per message."""

    def __init__(
        self,
        app: AppChannel,
        pubsub: str,
        subscriptions: list[Subscription],
        component_retry: Retry,
        dead_letter: DeadLetter,
        inbound: InboundPolicy | None = None,
    ) -> None:
        self._app = app
        self._pubsub = pubsub
        self._subscriptions = {s.topic: s for s in subscriptions}
        self._component_retry = component_retry
        self._inbound = inbound or InboundPolicy()
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
        delays = self._component_retry.delays()
        while not await self._handle(subscription, body, expired):
            delay = next(delays, None)
            if delay is None:
                log.error(
                    "too many failed attempts at a message on %s/%s; dropping it",
                    self._pubsub,
                    topic,
                )
                return
            await asyncio.sleep(delay)  # the component's backoff before it redelivers

    async def _handle(self, subscription: Subscription, body: bytes, expired: bool) -> bool:
        """One pass of daprd's subscription handler: True once the message is settled,
        False for an error that the component redelivers."""
        topic = subscription.topic
        if subscription.raw_payload:
            event = from_raw_payload(body, topic, self._pubsub)
            payload = json.dumps(event).encode()
        else:
            event, payload = _decode(body), body
            if event is None:
                log.error("message on %s/%s is not a CloudEvent", self._pubsub, topic)
                return await self._dead_lettered(subscription, body, "undecodable")
        event_id = event.get("id")
        if expired or has_expired(event):
            log.warning("dropping expired pub/sub event %s", event_id)
            await self._give_up(subscription, body, "expired")
            return True
        path = subscription.route_for(event)
        if path is None:
            log.debug("no matching route for event %s on %s/%s", event_id, self._pubsub, topic)
            await self._give_up(subscription, body, "unrouted")
            return True
        headers = {"content-type": CLOUDEVENT_CONTENT_TYPE}
        if traceparent := event.get("traceparent"):
            headers["traceparent"] = str(traceparent)
        outcome = await self._run_policy(path, payload, headers, event_id)
        if outcome is Outcome.SUCCESS:
            return True
        if outcome in (Outcome.DROP, Outcome.NOT_FOUND):
            await self._give_up(subscription, body, f"{outcome.value} from the app")
            return True
        return await self._dead_lettered(subscription, body, "delivery failed")

    async def _dead_lettered(self, subscription: Subscription, body: bytes, why: str) -> bool:
        """A failed message goes to the dead-letter topic if there is one; without one it is
        the component's to redeliver."""
        if not subscription.dead_letter_topic:
            return False
        await self._give_up(subscription, body, why)
        return True

    async def _run_policy(
        self, path: str, payload: bytes, headers: dict[str, str], event_id: Any
    ) -> Outcome:
        """One run of the inbound Resiliency policy: attempts until success, a final
        outcome (DROP, 404) or the policy's retries are spent (then RETRY)."""
        delays = self._inbound.delays()
        unreachable = _PATIENT.delays()
        while True:
            try:
                async with asyncio.timeout(self._inbound.timeout):
                    outcome = await self._post(path, payload, headers, event_id)
            except TimeoutError:
                log.warning("pub/sub event %s timed out in the app", event_id)
                outcome = Outcome.RETRY
            if outcome is Outcome.UNREACHABLE:
                await asyncio.sleep(next(unreachable))  # the app is down: wait for it to return
                continue
            if outcome is not Outcome.RETRY:
                return outcome
            delay = next(delays, None)
            if delay is None:
                return Outcome.RETRY
            await asyncio.sleep(delay)  # the resiliency policy's backoff

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
                log.warning("DROP status returned from app for pub/sub event %s", event_id)
                return Outcome.DROP
            if status != "RETRY":
                log.warning("unknown status %r from app for pub/sub event %s", status, event_id)
            return Outcome.RETRY
        if status_code == 404:
            # daprd never retries a 404: like DROP, it is dead-lettered or acknowledged
            log.error("non-retriable 404 from app for pub/sub event %s: %s", event_id, text[:500])
            return Outcome.NOT_FOUND
        log.warning(
            "retriable %s from app for pub/sub event %s: %s", status_code, event_id, text[:500]
        )
        return Outcome.RETRY

    def session(self) -> aiohttp.ClientSession:
        """The shared client session; bulk deliveries of the same component use it too."""
        return self._session()

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
        delays = _PATIENT.delays()
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
