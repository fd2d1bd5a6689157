"""The chart's Grafana dashboard (charts/tickler/files/dashboard.json) read as its panels
and their PromQL, with Grafana's variables replaced by what a plain Prometheus query takes:
shared by the static checks here and tests/integration/ops/test_metrics.py, which runs every
target against a Prometheus that scraped the app."""

from __future__ import annotations

import json
import re

from tests.integration.deploy.helm import CHART

DASHBOARD = CHART / "files" / "dashboard.json"
# Grafana's interval variables as concrete ranges (rate() needs two scrapes inside one), and
# the dashboard's $job as the job the chart's ServiceMonitor sets.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "30s",
    "$__range": "1h",
    "$job": "tickler",
}


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels_by_row(dashboard: dict) -> dict[str, list[dict]]:
    """The graph panels under each row title, the panels of collapsed rows included."""
    rows: dict[str, list[dict]] = {}
    current = rows.setdefault("", [])
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            current = rows.setdefault(panel["title"], [])
            current.extend(panel.get("panels", []))
        else:
            current.append(panel)
    return {title: found for title, found in rows.items() if found}


def panels(dashboard: dict) -> list[dict]:
    return [panel for row in panels_by_row(dashboard).values() for panel in row]


def concrete(expr: str) -> str:
    """The expression with every Grafana variable replaced; none may be left over."""
    for variable, value in sorted(VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + variable[1:] + "}", value).replace(variable, value)
    left = re.findall(r"\$\{?\w+", expr)
    assert not left, f"variables with no concrete value: {left} in {expr}"
    return expr
