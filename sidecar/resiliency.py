"""`kind: Resiliency` documents from the resources folder, as daprd reads them (pub/sub inbound).

daprd wraps every delivery of a pubsub component's events to the app in that component's
inbound policy (`pkg/resiliency/resiliency.go`, ComponentInboundPolicy): the timeout bounds each
attempt, the retry decides how many attempts there are. A component named under
`targets.components` gets exactly the inbound policies named there, and nothing else: no
default fills a gap. Only a component that is not a target at all falls back to the default
names, most specific first: `DefaultPubsubComponentInbound<Kind>Policy`,
`DefaultComponentInbound<Kind>Policy`, `DefaultComponent<Kind>Policy`, `Default<Kind>Policy`.
No retry policy means a single attempt; no timeout (or a zero one) means none.

Retries follow dapr/kit `retry` over cenkalti/backoff v4: `constant` waits `duration` (default
5s) between attempts; `exponential` starts at 0.5 s and grows 1.5x up to `maxInterval` (default
60s), each wait randomised by +/-50 %, and stops once 15 minutes have passed since the first
attempt. `maxRetries` -1 (the default) retries for ever. The same `Retry` reads a component's
`backOff*` metadata, which daprd's components decode with the same library.
Circuit breakers and `matching` status codes are not applied by the dev sidecar.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sidecar.durations import parse_duration

log = logging.getLogger(__name__)

# The fields of a Resiliency retry policy (daprd's resiliency v1alpha1 `Retry`); dapr/kit knows
# more, which only component metadata can set.
_POLICY_FIELDS = ("policy", "duration", "maxInterval", "maxRetries")


@dataclass(frozen=True)
class Retry:
    policy: str = "constant"  # or "exponential"
    duration: float = 5.0
    initial_interval: float = 0.5
    max_interval: float = 60.0
    max_retries: int = -1
    max_elapsed: float = 900.0  # cenkalti/backoff DefaultMaxElapsedTime; exponential only
    randomization: float = 0.5
    multiplier: float = 1.5

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> Retry:
        """A retry policy of a Resiliency document."""
        return cls._decode({k: spec[k] for k in _POLICY_FIELDS if k in spec})

    @classmethod
    def from_component_metadata(cls, metadata: Mapping[str, str]) -> Retry:
        """A component's `backOff*` metadata (`backOffPolicy`, `backOffDuration`,
        `backOffInitialInterval`, `backOffMaxInterval`, `backOffMaxElapsedTime`,
        `backOffMaxRetries`), decoded as dapr/kit's DecodeConfigWithPrefix does."""
        prefix = "backoff"
        return cls._decode(
            {k[len(prefix) :]: v for k, v in metadata.items() if k.lower().startswith(prefix)}
        )

    @classmethod
    def _decode(cls, spec: Mapping[str, Any]) -> Retry:
        values = {str(k).lower(): v for k, v in spec.items() if v is not None and v != ""}
        default = cls()
        policy = str(values.get("policy", default.policy)).strip().lower()
        if policy not in ("constant", "exponential"):
            raise ValueError(f"unexpected back off policy type: {policy}")
        return cls(
            policy=policy,
            duration=_seconds(values.get("duration"), default.duration),
            initial_interval=_seconds(values.get("initialinterval"), default.initial_interval),
            max_interval=_seconds(values.get("maxinterval"), default.max_interval),
            max_retries=int(values.get("maxretries", default.max_retries)),
            max_elapsed=_seconds(values.get("maxelapsedtime"), default.max_elapsed),
            randomization=float(values.get("randomizationfactor", default.randomization)),
            multiplier=float(values.get("multiplier", default.multiplier)),
        )

    def delays(
        self, rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic
    ) -> Iterator[float]:
        """The wait before each retry, as many as the policy allows. Call it when the first
        attempt starts: exponential backoff counts its elapsed time (attempts included)
        from then."""
        started = clock()
        rng = rng or random.Random()

        def waits() -> Iterator[float]:
            interval, count, waited = self.initial_interval, 0, 0.0
            while self.max_retries < 0 or count < self.max_retries:
                count += 1
                if self.policy != "exponential":
                    yield self.duration
                    continue
                delta = self.randomization * interval
                wait = interval - delta + rng.random() * 2 * delta
                interval = min(interval * self.multiplier, self.max_interval)
                # the caller sleeps each wait, so real time covers them; counting them too
                # keeps a caller that does not sleep (a test) from iterating for ever
                elapsed = max(clock() - started, waited)
                if self.max_elapsed > 0 and elapsed + wait > self.max_elapsed:
                    return
                waited += wait
                yield wait

        return waits()


@dataclass(frozen=True)
class InboundPolicy:
    """What wraps each delivery of one pubsub component's events to the app."""

    retry: Retry | None = None  # None: one attempt
    timeout: float | None = None  # per attempt; None: no limit

    def delays(self) -> Iterator[float]:
        return self.retry.delays() if self.retry is not None else iter(())


@dataclass
class Resiliency:
    retries: dict[str, Retry] = field(default_factory=dict)
    timeouts: dict[str, float] = field(default_factory=dict)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

    def inbound(self, component: str) -> InboundPolicy:
        if component in self.components:
            target = (self.components[component] or {}).get("inbound") or {}
            retry = self._named(self.retries, target.get("retry"))
            timeout = self._named(self.timeouts, target.get("timeout"))
        else:
            retry = self._default(self.retries, "Retry")
            timeout = self._default(self.timeouts, "Timeout")
        return InboundPolicy(retry=retry, timeout=timeout if timeout and timeout > 0 else None)

    @staticmethod
    def _named(policies: Mapping[str, Any], name: str | None) -> Any:
        if not name:
            return None
        if name not in policies:
            log.warning("resiliency policy %r is not defined", name)
        return policies.get(name)

    @staticmethod
    def _default(policies: Mapping[str, Any], kind: str) -> Any:
        for level in ("PubsubComponentInbound", "ComponentInbound", "Component", ""):
            if (name := f"Default{level}{kind}Policy") in policies:
                return policies[name]
        return None


def load_resiliency(resources_path: Path, app_id: str) -> Resiliency:
    """Every `kind: Resiliency` under `resources_path` scoped to `app_id`, merged."""
    merged = Resiliency()
    for path in sorted(Path(resources_path).glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "Resiliency":
                continue
            scopes = doc.get("scopes") or ()
            if scopes and app_id not in scopes:
                continue
            spec = doc.get("spec") or {}
            policies = spec.get("policies") or {}
            for name, retry in (policies.get("retries") or {}).items():
                merged.retries[name] = Retry.parse(retry or {})
            for name, timeout in (policies.get("timeouts") or {}).items():
                merged.timeouts[name] = _seconds(timeout, 0.0)
            merged.components.update((spec.get("targets") or {}).get("components") or {})
    return merged


def _seconds(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    return parse_duration(str(value)).total_seconds()
