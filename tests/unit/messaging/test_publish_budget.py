"""The outbox relay must outwait daprd's whole retry budget for one publish.

If the relay's PUBLISH_TIMEOUT ran out while daprd was still retrying, the relay would
cancel the call, keep the outbox row and publish it again: a duplicate on the topic. The
budget is computed from the Resiliency files the way dapr/kit's retry runs it
(DAPR-CONTRACT.md: exponential back-off from cenkalti/backoff, initial interval 0.5 s,
multiplier 1.5, randomization factor 0.5, capped at maxInterval; one timeout per try).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from messaging.relay import PUBLISH_TIMEOUT
from sidecar.durations import parse_duration

ROOT = Path(__file__).resolve().parents[3]
RESILIENCY_FILES = [
    ROOT / "components" / "kubernetes" / "resiliency.yaml",
    ROOT / "components" / "local" / "resiliency.yaml",
    ROOT / "components" / "dev-postgres-pubsub" / "resiliency.yaml",
]
INITIAL_S, MULTIPLIER, RANDOMIZATION = 0.5, 1.5, 0.5


def worst_case_publish_s(resiliency: dict) -> float:
    """Every try runs into its timeout and every wait is at its longest."""
    policies = resiliency["spec"]["policies"]
    outbound = resiliency["spec"]["targets"]["components"]["pubsub"]["outbound"]
    timeout = parse_duration(policies["timeouts"][outbound["timeout"]]).total_seconds()
    retry = policies["retries"][outbound["retry"]]
    assert retry["policy"] == "exponential"
    cap = parse_duration(retry["maxInterval"]).total_seconds()
    waits, interval = 0.0, INITIAL_S
    for _ in range(retry["maxRetries"]):
        waits += min(interval, cap) * (1 + RANDOMIZATION)
        interval *= MULTIPLIER
    return (retry["maxRetries"] + 1) * timeout + waits


def test_the_budget_arithmetic_matches_the_comment_beside_the_policy() -> None:
    doc = yaml.safe_load(RESILIENCY_FILES[0].read_text())
    assert worst_case_publish_s(doc) == pytest.approx(23.5625)


@pytest.mark.parametrize("path", RESILIENCY_FILES, ids=lambda p: p.parent.name)
def test_the_relay_outwaits_daprds_publish_retries(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert worst_case_publish_s(doc) < PUBLISH_TIMEOUT
