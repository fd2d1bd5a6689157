"""Programmatic subscriptions, as the app serves them at `GET /dapr/subscribe`.

Accepted item shapes (daprd's v1 and v2):
  {"pubsubname", "topic", "route", "metadata"?, "deadLetterTopic"?}   (dapr.ext.fastapi DaprApp)
  {"pubsubname", "topic", "routes": {"rules": [{"match", "path"}], "default"}, ...}
either with `"bulkSubscribe": {"enabled", "maxMessagesCount"?, "maxAwaitDurationMs"?}`.
Rule `match` expressions are CEL in daprd; this sidecar evaluates the subset apps write in
practice: comparisons `event.<field>[.<field>...] ==|!= <literal>` joined by `&&` / `||`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sidecar.pubsub.bulk import BulkSubscribe
from sidecar.pubsub.cloudevents import is_truthy

log = logging.getLogger(__name__)

_COMPARISON = re.compile(
    r"""^\s*event((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*(==|!=)\s*
        ("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|true|false|null)\s*$""",
    re.VERBOSE,
)


class SubscriptionError(ValueError):
    """An entry of /dapr/subscribe this sidecar cannot honour."""


@dataclass(frozen=True)
class Comparison:
    path: tuple[str, ...]
    negate: bool
    literal: Any

    def holds(self, event: dict[str, Any]) -> bool:
        value: Any = event
        for name in self.path:
            if not isinstance(value, dict) or name not in value:
                return self.negate
            value = value[name]
        return (value == self.literal) != self.negate


@dataclass(frozen=True)
class Match:
    """A disjunction of conjunctions of comparisons; empty means "always"."""

    text: str
    any_of: tuple[tuple[Comparison, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Match:
        if not text.strip():
            return cls(text, ())
        alternatives = []
        for alternative in text.split("||"):
            clauses = []
            for clause in alternative.split("&&"):
                found = _COMPARISON.match(clause.strip().strip("()"))
                if found is None:
                    raise SubscriptionError(f"unsupported match expression: {text!r}")
                path, op, literal = found.groups()
                if literal.startswith("'"):
                    literal = '"' + literal[1:-1].replace('"', '\\"') + '"'
                path_names = tuple(path[1:].split("."))
                clauses.append(Comparison(path_names, op == "!=", json.loads(literal)))
            alternatives.append(tuple(clauses))
        return cls(text, tuple(alternatives))

    def holds(self, event: dict[str, Any]) -> bool:
        if not self.any_of:
            return True
        return any(all(c.holds(event) for c in clauses) for clauses in self.any_of)


@dataclass(frozen=True)
class Rule:
    match: Match
    path: str


@dataclass(frozen=True)
class Subscription:
    pubsub: str
    topic: str
    rules: tuple[Rule, ...]  # the default route is the last rule, with an empty match
    metadata: dict[str, str] = field(default_factory=dict)
    dead_letter_topic: str | None = None
    # `bulkSubscribe` with `enabled: true` (sidecar/pubsub/bulk.py); None: one event per POST
    bulk: BulkSubscribe | None = None

    @property
    def raw_payload(self) -> bool:
        return is_truthy(self.metadata.get("rawPayload"))

    def route_for(self, event: dict[str, Any]) -> str | None:
        """The app path for `event`; None when no rule matches (daprd then skips it)."""
        for rule in self.rules:
            if rule.match.holds(event):
                return rule.path
        return None

    def describe(self) -> dict[str, Any]:
        """The entry daprd lists under `subscriptions` in /v1.0/metadata."""
        described: dict[str, Any] = {
            "pubsubname": self.pubsub,
            "topic": self.topic,
            "metadata": dict(self.metadata),
            "rules": [{"match": r.match.text, "path": r.path} for r in self.rules],
            "type": "PROGRAMMATIC",
        }
        if self.dead_letter_topic:
            described["deadLetterTopic"] = self.dead_letter_topic
        return described


def parse_subscription(item: dict[str, Any]) -> Subscription:
    pubsub, topic = item.get("pubsubname"), item.get("topic")
    if not pubsub or not topic:
        raise SubscriptionError(f"subscription needs pubsubname and topic: {item!r}")
    rules: list[Rule] = []
    routes = item.get("routes") or {}
    for rule in routes.get("rules") or []:
        rules.append(Rule(Match.parse(rule.get("match", "")), rule["path"]))
    default = routes.get("default") or item.get("route")
    if default:
        rules.append(Rule(Match.parse(""), default))
    if not rules:
        raise SubscriptionError(f"subscription to {pubsub}/{topic} has no route")
    metadata = {str(k): str(v) for k, v in (item.get("metadata") or {}).items()}
    return Subscription(
        pubsub=pubsub,
        topic=topic,
        rules=tuple(rules),
        metadata=metadata,
        dead_letter_topic=item.get("deadLetterTopic") or None,
        bulk=BulkSubscribe.parse(item.get("bulkSubscribe")),
    )


def parse_subscriptions(items: list[dict[str, Any]]) -> list[Subscription]:
    """Valid entries, one per (pubsub, topic) as in daprd; bad entries are logged and skipped."""
    seen: dict[tuple[str, str], Subscription] = {}
    for item in items:
        try:
            subscription = parse_subscription(item)
        except (SubscriptionError, KeyError, TypeError, AttributeError) as exc:
            log.error("ignoring subscription %r: %s", item, exc)
            continue
        key = (subscription.pubsub, subscription.topic)
        if key in seen:
            log.warning("duplicate subscription to %s/%s; keeping the first", *key)
            continue
        seen[key] = subscription
    return list(seen.values())
