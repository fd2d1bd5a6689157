"""charts/tickler/values.schema.json against values.yaml: every value the chart documents is
described by the schema, every object of the chart's own is closed (a misspelt key fails
`helm install` instead of being ignored), and Helm refuses a value of the wrong type."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from tests.integration.deploy.helm import CHART, Helm

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def resolve(node: dict) -> dict:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = SCHEMA[section][name]
    return node


def key_paths(values: dict, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in values.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from key_paths(value, (*prefix, key))


def described(path: tuple[str, ...]) -> bool:
    """Whether the schema names every step of the path, or leaves the rest to a free-form
    object it describes (a Kubernetes structure, a map of labels)."""
    node = SCHEMA
    for key in path:
        node = resolve(node)
        properties = node.get("properties")
        if properties is None:
            free_form = bool(node.get("description")) or isinstance(
                node.get("additionalProperties"), dict
            )
            return node.get("type") == "object" and free_form
        if key not in properties:
            extra = node.get("additionalProperties")
            return isinstance(extra, dict)
        node = properties[key]
    return True


# conditions on an object, not objects of their own
CONDITIONS = {"if", "then", "else", "not"}


def closed_objects(node: object, where: str = "") -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, child in node.items():
            if key not in CONDITIONS:
                yield from closed_objects(child, f"{where}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from closed_objects(child, f"{where}/{i}")


def test_every_value_in_values_yaml_is_described_by_the_schema() -> None:
    missing = [".".join(p) for p in key_paths(VALUES) if not described(p)]
    assert not missing, f"values the schema does not describe: {missing}"


def test_every_object_the_schema_spells_out_refuses_unknown_keys() -> None:
    open_ = [
        where or "/"
        for where, node in closed_objects(SCHEMA)
        if node.get("additionalProperties") is not False
    ]
    assert not open_, f"objects with properties that take any other key: {open_}"


def test_the_walk_notices_an_undescribed_value() -> None:
    assert not described(("networkPolicy", "egress", "ftp"))
    assert not described(("otel", "headers"))
    assert described(("monitoring", "dashboard", "labels", "team"))


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ("networkPolicy.enabled=yes", "/networkPolicy/enabled"),
        ("networkPolicy.egress.enabled=1", "/networkPolicy/egress/enabled"),
        ("monitoring.dashboard.enabled=sometimes", "/monitoring/dashboard/enabled"),
        ("monitoring.podMonitor.interval=5", "/monitoring/podMonitor/interval"),
        ("otel.resourceAttributes=team", "/otel/resourceAttributes"),
        ("postgres.caCert=ca.crt", "/postgres/caCert"),
        ("networkPolicy.egress.webhooks.ports[0].port=true", "/networkPolicy/egress/webhooks"),
        ("monitoring.dashbord.enabled=true", "dashbord"),
    ],
)
def test_lint_and_template_refuse_a_wrong_type(helm: Helm, override: str, complaint: str) -> None:
    for command in ("lint", "template"):
        args = ["t"] if command == "template" else []
        done = helm.run(command, *args, str(CHART), "--set", override)
        assert done.returncode != 0, (command, override)
        assert complaint in done.stdout + done.stderr, (command, done.stdout + done.stderr)
