"""The chart's alerts (charts/tickler/files/alerts.yaml) through Debian's promtool: the
rules check clean, and every alert has a unit test that fires it and one that does not.
The promtool test file is written here, so the expected annotations are read from the
rules themselves rather than copied."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.deploy.helm import CHART

RULES = CHART / "files" / "alerts.yaml"


def counter(name: str, per_minute: float, **labels: str) -> dict:
    """A counter rising by `per_minute` for 40 minutes."""
    return {"series": _series(name, labels), "values": f"0+{per_minute}x40"}


def gauge(name: str, value: str, **labels: str) -> dict:
    return {"series": _series(name, labels), "values": value}


def histogram(name: str, below: str, above: str, per_minute: float) -> list[dict]:
    """Observations that all land between the buckets `below` and `above`."""
    return [
        counter(f"{name}_bucket", 0, le=below),
        counter(f"{name}_bucket", per_minute, le=above),
        counter(f"{name}_bucket", per_minute, le="+Inf"),
    ]


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


# alert -> (series that fire it, labels it fires with, series that do not fire it)
CASES: dict[str, tuple[list[dict], dict[str, str], list[dict]]] = {
    "TicklerDown": (
        [gauge("up", "0x40", job="tickler", instance="a")],
        {"job": "tickler", "instance": "a"},
        [gauge("up", "1x40", job="tickler", instance="a")],
    ),
    "TicklerHighErrorRatio": (
        [
            counter("tickler_http_requests_total", 100, route="/v1/tasks", status="200"),
            counter("tickler_http_requests_total", 5, route="/v1/tasks", status="503"),
        ],
        {},
        [
            counter("tickler_http_requests_total", 100, route="/v1/tasks", status="200"),
            counter("tickler_http_requests_total", 1, route="/v1/tasks", status="503"),
        ],
    ),
    "TicklerSagaFailureRatio": (
        [
            counter("tickler_sagas_finished_total", 10, kind="complete", outcome="completed"),
            counter("tickler_sagas_finished_total", 1, kind="complete", outcome="failed"),
        ],
        {},
        [
            counter("tickler_sagas_finished_total", 100, kind="complete", outcome="completed"),
            counter("tickler_sagas_finished_total", 1, kind="complete", outcome="failed"),
        ],
    ),
    "TicklerSagaSlow": (
        histogram("tickler_saga_duration_seconds", "5.0", "10.0", 10),
        {},
        histogram("tickler_saga_duration_seconds", "0.1", "0.25", 10),
    ),
    "TicklerOutboxStuck": (
        [gauge("tickler_outbox_oldest_age_seconds", "0+10x40")],
        {},
        [gauge("tickler_outbox_oldest_age_seconds", "5x40")],
    ),
    "TicklerRemindersLate": (
        histogram("tickler_reminder_lateness_seconds", "5.0", "10.0", 10),
        {},
        histogram("tickler_reminder_lateness_seconds", "0.5", "1.0", 10),
    ),
    "TicklerDeadLettersGrowing": (
        [gauge("tickler_dead_letters_total", "0 0 0 0 0 0 0 0 0 0 1x30", topic="task-events")],
        {},
        [gauge("tickler_dead_letters_total", "3x40", topic="task-events")],
    ),
    "TicklerConsumerLag": (
        [gauge("tickler_consumer_lag_oldest_age_seconds", "120x40", consumer="audit")],
        {"consumer": "audit"},
        [gauge("tickler_consumer_lag_oldest_age_seconds", "0x40", consumer="audit")],
    ),
}
EVAL_AT = "20m"  # past every `for:` of the rules


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool comes with Debian's prometheus package: make test installs it"
    return found


def rules() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_the_rules_check_clean(promtool: str) -> None:
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_runbook_and_both_cases() -> None:
    for name, rule in rules().items():
        assert rule["annotations"].get("runbook"), f"{name} has no runbook"
        assert rule["annotations"].get("summary"), f"{name} has no summary"
    assert set(CASES) == set(rules()), "one firing and one quiet case per alert"


def test_every_alert_fires_and_stays_quiet_as_it_should(promtool: str, tmp_path: Path) -> None:
    defined = rules()
    tests = []
    for name, (firing, labels, quiet) in CASES.items():
        rule = defined[name]
        expected = {
            "exp_labels": {**rule.get("labels", {}), **labels},
            "exp_annotations": rule["annotations"],
        }
        tests.append(
            {
                "name": f"{name} fires",
                "interval": "1m",
                "input_series": firing,
                "alert_rule_test": [
                    {"eval_time": EVAL_AT, "alertname": name, "exp_alerts": [expected]}
                ],
            }
        )
        tests.append(
            {
                "name": f"{name} stays quiet",
                "interval": "1m",
                "input_series": quiet,
                "alert_rule_test": [{"eval_time": EVAL_AT, "alertname": name, "exp_alerts": []}],
            }
        )
    # TicklerDown also fires when no replica is scraped at all (absent)
    tests.append(
        {
            "name": "TicklerDown fires with no target",
            "interval": "1m",
            "input_series": [gauge("up", "1x40", job="something-else")],
            "alert_rule_test": [
                {
                    "eval_time": EVAL_AT,
                    "alertname": "TicklerDown",
                    "exp_alerts": [
                        {
                            "exp_labels": {"severity": "critical", "job": "tickler"},
                            "exp_annotations": defined["TicklerDown"]["annotations"],
                        }
                    ],
                }
            ],
        }
    )
    spec = tmp_path / "alerts_test.yaml"
    spec.write_text(
        yaml.safe_dump({"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests})
    )
    done = subprocess.run([promtool, "test", "rules", str(spec)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
