"""The Grafana dashboard the chart ships (files/dashboard.json): it parses, every panel
queries the `${datasource}` variable, and every series and label its PromQL names is one
telemetry.metrics exports, so a renamed metric breaks this test rather than a panel.
tests/integration/ops/test_metrics.py runs the same queries against a real Prometheus."""

from __future__ import annotations

import re

from prometheus_client.metrics import MetricWrapperBase

from telemetry import metrics
from tests.integration.deploy.dashboard import concrete, load, panels, panels_by_row

# what each metric type exports beyond its family name, and the labels the suffix adds
SUFFIXES = {
    "counter": {"_total": set()},
    "gauge": {"": set()},
    "histogram": {"_bucket": {"le"}, "_count": set(), "_sum": set()},
}
# labels Prometheus attaches to every scraped series
TARGET_LABELS = {"job", "instance"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def exported() -> dict[str, set[str]]:
    """Every series name in telemetry.metrics.REGISTRY, with the labels it carries."""
    labels = {
        family.name: set(metric._labelnames)
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for family in metric.describe()
    }
    series: dict[str, set[str]] = {}
    for family in metrics.REGISTRY.collect():
        for suffix, extra in SUFFIXES[family.type].items():
            series[family.name + suffix] = labels[family.name] | extra | TARGET_LABELS
    return series


def exprs(panel: dict) -> list[str]:
    return [target["expr"] for target in panel["targets"]]


def labels_in(expr: str) -> set[str]:
    """Labels an expression groups by or matches on."""
    grouped = {
        label.strip()
        for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
        for label in clause.split(",")
        if label.strip()
    }
    matched = set(re.findall(r"[{,]\s*(\w+)\s*(?:=~|!~|!=|=)", expr))
    return grouped | matched


def test_the_dashboard_parses_and_every_panel_has_a_query() -> None:
    dashboard = load()
    assert dashboard["uid"] and dashboard["title"]
    found = panels(dashboard)
    assert len(found) >= 15
    for panel in found:
        assert panel["targets"], f"{panel['title']} has no targets"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"{panel['title']} {target['refId']} is empty"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"


def test_every_panel_reads_the_datasource_variable_of_type_prometheus() -> None:
    dashboard = load()
    [variable] = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels(dashboard):
        assert panel["datasource"] == wanted, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", wanted) == wanted, panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == wanted, variable["name"]


def test_the_rows_cover_red_sagas_reminders_events_actors_and_mcp() -> None:
    rows = panels_by_row(load())
    assert set(rows) == {"Requests", "Sagas", "Reminders", "Events", "Actors", "MCP"}
    text = {title: " ".join(e for p in found for e in exprs(p)) for title, found in rows.items()}
    assert "tickler_http_requests_total" in text["Requests"]
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (route, le)" in text["Requests"]
    for series in ("sagas_started_total", "sagas_finished_total", "saga_duration_seconds_bucket"):
        assert f"tickler_{series}" in text["Sagas"]
    for series in ("events_consumed_total", "outbox_backlog", "outbox_oldest_age_seconds"):
        assert f"tickler_{series}" in text["Events"]
    for series in ("consumer_lag_events", "consumer_lag_oldest_age_seconds", "dead_letters_total"):
        assert f"tickler_{series}" in text["Events"]
    assert "tickler_reminder_lateness_seconds_bucket" in text["Reminders"]
    assert "tickler_actor_call_duration_seconds_bucket" in text["Actors"]
    assert "tickler_mcp_tool_calls_total" in text["MCP"]


def test_every_series_and_label_the_queries_name_is_exported() -> None:
    series = exported()
    for panel in panels(load()):
        for expr in exprs(panel):
            names = set(re.findall(r"\btickler_\w+", expr))
            assert names, f"{panel['title']}: {expr} reads no tickler series"
            unknown = names - series.keys()
            assert not unknown, f"{panel['title']}: {sorted(unknown)} not in the registry"
            known = set().union(*(series[n] for n in names))
            stray = labels_in(expr) - known - PROMQL_WORDS
            assert not stray, f"{panel['title']}: labels {sorted(stray)} are on none of {names}"


def test_legends_name_only_labels_their_query_keeps() -> None:
    for panel in panels(load()):
        for target in panel["targets"]:
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            assert legend <= labels_in(target["expr"]), (panel["title"], target["refId"])


def test_grafana_variables_all_have_a_concrete_value() -> None:
    for panel in panels(load()):
        for expr in exprs(panel):
            assert "$" not in concrete(expr)


def test_panels_do_not_overlap_on_the_grid() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in load()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
