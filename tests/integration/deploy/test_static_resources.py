"""The Dapr YAML outside the chart: components/kubernetes, components/local and dapr.yaml."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from domain.events import DEAD_LETTERS, REMINDERS, TASK_EVENTS, TASK_UPDATES
from tests.integration.deploy.helm import ROOT
from tests.integration.deploy.resources import (
    SENSITIVE_METADATA,
    component_metadata,
    load_dir,
    only,
    secret_stores,
)

KUBERNETES = ROOT / "components" / "kubernetes"
LOCAL = ROOT / "components" / "local"
RUN_FILE = ROOT / "dapr.yaml"


def assert_secret_refs_resolve(docs: list[dict]) -> None:
    """Every secretKeyRef names a store declared beside it, and no credential is inline."""
    stores = secret_stores(docs)
    for component in (d for d in docs if d["kind"] == "Component"):
        meta = component_metadata(component)
        refs = [item for item in meta.values() if "secretKeyRef" in item]
        if refs:
            assert component["auth"]["secretStore"] in stores, component["metadata"]["name"]
        for name in SENSITIVE_METADATA & meta.keys():
            assert "secretKeyRef" in meta[name], f"{component['metadata']['name']}.{name} inline"


def test_kubernetes_resources_are_what_the_chart_renders_by_default(
    rendered: list[dict],
) -> None:
    static = load_dir(KUBERNETES)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in static) == sorted(
        (d["kind"], d["metadata"]["name"])
        for d in rendered
        if d["apiVersion"] == "dapr.io/v1alpha1"
    )
    for doc in static:
        twin = only(rendered, doc["kind"], doc["metadata"]["name"])
        for key in ("spec", "scopes", "auth"):
            assert doc.get(key) == twin.get(key), f"{doc['kind']} {doc['metadata']['name']}.{key}"


def test_kubernetes_components_are_the_ones_the_app_names() -> None:
    docs = load_dir(KUBERNETES)
    assert {d["apiVersion"] for d in docs} == {"dapr.io/v1alpha1"}
    pubsub = only(docs, "Component", "pubsub")
    assert pubsub["spec"]["type"] == "pubsub.kafka"
    store = only(docs, "Component", "statestore")
    assert (store["spec"]["type"], store["spec"]["version"]) == ("state.postgresql", "v2")
    assert component_metadata(store)["actorStateStore"]["value"] == "true"
    assert only(docs, "Component", "kubernetes")["spec"]["type"] == "secretstores.kubernetes"
    assert only(docs, "Configuration")["metadata"]["name"] == "tickler-config"
    assert not [d for d in docs if d["kind"] == "Subscription"]  # subscriptions are programmatic
    for doc in docs:
        assert doc.get("scopes") == ["tickler"] or doc["kind"] == "Configuration"
    assert_secret_refs_resolve(docs)


def test_kafka_component_uses_metadata_fields_dapr_knows() -> None:
    # The pubsub.kafka field names from Dapr's component metadata; a typo is silently ignored
    # by daprd, so it has to be caught here.
    known = {
        "brokers", "consumerGroup", "clientID", "authType", "saslUsername", "saslPassword",
        "saslMechanism", "initialOffset", "maxMessageBytes", "consumeRetryInterval",
        "consumeRetryEnabled", "version", "caCert", "clientCert", "clientKey", "skipVerify",
        "disableTls", "heartbeatInterval", "sessionTimeout",
    }  # fmt: skip
    pubsub = only(load_dir(KUBERNETES), "Component", "pubsub")
    assert set(component_metadata(pubsub)) <= known


def test_state_store_uses_metadata_fields_dapr_knows() -> None:
    known = {
        "connectionString", "actorStateStore", "timeout", "tableName", "metadataTableName",
        "cleanupInterval", "maxConns", "connectionMaxIdleTime", "queryExecMode",
    }  # fmt: skip
    store = only(load_dir(KUBERNETES), "Component", "statestore")
    assert set(component_metadata(store)) <= known


def test_kafka_component_documents_every_topic_the_app_uses() -> None:
    text = (KUBERNETES / "pubsub.yaml").read_text()
    for topic in (TASK_EVENTS, REMINDERS, TASK_UPDATES, DEAD_LETTERS):
        assert topic in text


def test_chart_values_list_exactly_the_topics_the_app_uses() -> None:
    values = yaml.safe_load((ROOT / "charts" / "tickler" / "values.yaml").read_text())
    assert values["kafka"]["topics"] == [TASK_EVENTS, REMINDERS, TASK_UPDATES, DEAD_LETTERS]


def test_local_components_give_the_app_pubsub_and_an_actor_state_store() -> None:
    docs = load_dir(LOCAL)
    assert {d["kind"] for d in docs} == {"Component"}
    pubsub = only(docs, "Component", "pubsub")
    assert pubsub["spec"]["type"].startswith("pubsub.")
    store = only(docs, "Component", "statestore")
    assert store["spec"]["type"] == "state.postgresql"
    assert component_metadata(store)["actorStateStore"]["value"] == "true"
    assert_secret_refs_resolve(docs)


def test_run_file_starts_the_app_the_way_the_chart_does(rendered: list[dict]) -> None:
    run = yaml.safe_load(RUN_FILE.read_text())
    assert run["version"] == 1
    [app] = run["apps"]
    assert app["appID"] == "tickler"
    assert (ROOT / app["appDirPath"]).resolve() == ROOT
    command = app["command"]
    assert command[command.index("--port") + 1] == str(app["appPort"])
    assert app["appHealthCheckPath"] == "/healthz"
    container = only(rendered, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert command == container["command"]


def test_run_file_points_at_local_components_with_pubsub_and_state() -> None:
    [app] = yaml.safe_load(RUN_FILE.read_text())["apps"]
    paths = [Path(ROOT / p).resolve() for p in app["resourcesPaths"]]
    assert paths == [LOCAL]
    names = {d["metadata"]["name"] for p in paths for d in load_dir(p)}
    assert {"pubsub", "statestore"} <= names


def test_run_file_command_names_a_real_app_factory() -> None:
    [app] = yaml.safe_load(RUN_FILE.read_text())["apps"]
    module, _, attribute = app["command"][1].partition(":")
    factory = getattr(importlib.import_module(module), attribute)
    assert callable(factory)
