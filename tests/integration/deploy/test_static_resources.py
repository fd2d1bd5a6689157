"""The Dapr YAML outside the chart: components/kubernetes, components/local,
components/dev-postgres-pubsub and dapr.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from api import cli
from domain.events import DEAD_LETTERS, REMINDERS, TASK_EVENTS, TASK_UPDATES
from tests.integration.deploy.daprd_components import REGISTERED
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
DEV_POSTGRES_PUBSUB = ROOT / "components" / "dev-postgres-pubsub"
RUN_FILE = ROOT / "dapr.yaml"

# The pubsub.kafka field names from Dapr's component metadata; a typo is silently ignored by
# daprd, so it has to be caught here.
KAFKA_METADATA = {
    "brokers", "consumerGroup", "clientID", "authType", "saslUsername", "saslPassword",
    "saslMechanism", "initialOffset", "maxMessageBytes", "consumeRetryInterval",
    "consumeRetryEnabled", "version", "caCert", "clientCert", "clientKey", "skipVerify",
    "disableTls", "heartbeatInterval", "sessionTimeout",
}  # fmt: skip


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


def test_kafka_components_use_metadata_fields_dapr_knows() -> None:
    for folder in (KUBERNETES, LOCAL):
        pubsub = only(load_dir(folder), "Component", "pubsub")
        assert set(component_metadata(pubsub)) <= KAFKA_METADATA, folder


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
    assert {d["kind"] for d in docs} == {"Component", "Resiliency"}
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


def test_run_file_command_is_the_cli_serving_on_the_app_port() -> None:
    [app] = yaml.safe_load(RUN_FILE.read_text())["apps"]
    program, *argv = app["command"]
    assert program == "tickler"  # the console script pyproject.toml installs
    args = cli.parser().parse_args(argv)
    assert args.func is cli.cmd_serve
    assert (args.port, args.migrate) == (app["appPort"], False)


def run_file_resources() -> list[dict]:
    [app] = yaml.safe_load(RUN_FILE.read_text())["apps"]
    return [doc for p in app["resourcesPaths"] for doc in load_dir(ROOT / p)]


def test_run_file_loads_only_component_types_daprd_registers() -> None:
    """`dapr run -f .` works with real daprd unchanged: daprd 1.18/1.19 ships every
    component type and version it loads, and none hides a failure behind ignoreErrors."""
    components = [d for d in run_file_resources() if d["kind"] == "Component"]
    assert components
    for component in components:
        spec = component["spec"]
        kind = (spec["type"], str(spec.get("version", "v1")))
        assert kind[0] in REGISTERED, f"daprd has no component type {kind[0]}"
        assert kind[1] in REGISTERED[kind[0]], f"daprd has no {kind[0]} {kind[1]}"
        assert "ignoreErrors" not in spec, component["metadata"]["name"]
    used = {d["spec"]["type"] for d in components}
    assert used == {"pubsub.kafka", "state.postgresql", "secretstores.local.env"}


def test_the_registered_list_holds_every_type_tickler_uses() -> None:
    """Including the chart's (components/kubernetes) and local.file, which the dev
    sidecar reads too."""
    kubernetes = {d["spec"]["type"] for d in load_dir(KUBERNETES) if d["kind"] == "Component"}
    for kind in {*kubernetes, "pubsub.kafka", "state.postgresql", "secretstores.local.env"}:
        assert kind in REGISTERED
    assert "secretstores.local.file" in REGISTERED
    assert "pubsub.postgresql" not in REGISTERED  # DAPR-CONTRACT.md: no PostgreSQL pub/sub


def test_local_pubsub_is_kafka_on_loopback_without_tls_or_credentials() -> None:
    pubsub = only(load_dir(LOCAL), "Component", "pubsub")
    assert (pubsub["spec"]["type"], pubsub["spec"]["version"]) == ("pubsub.kafka", "v1")
    values = {name: item["value"] for name, item in component_metadata(pubsub).items()}
    assert values["brokers"] == "127.0.0.1:9092"
    assert values["authType"] == "none"
    assert values["disableTls"] == "true"
    assert values["consumerGroup"]
    assert values["initialOffset"] == "oldest"


def test_local_resiliency_is_the_kubernetes_one() -> None:
    """Retries before dead-lettering are the same under `tickler dev`, `dapr run -f .` and
    in the cluster."""
    local = only(load_dir(LOCAL), "Resiliency")
    cluster = only(load_dir(KUBERNETES), "Resiliency")
    for key in ("metadata", "scopes", "spec"):
        assert local.get(key) == cluster.get(key), key


def test_nothing_in_local_components_names_the_postgres_transport() -> None:
    for path in LOCAL.iterdir():
        text = path.read_text()
        assert "pubsub.postgresql" not in text, path.name
        assert DEV_POSTGRES_PUBSUB.name not in text, path.name


def test_dev_postgres_pubsub_folder_is_local_with_only_the_transport_swapped() -> None:
    """The opt-in folder for the dev sidecar's own PostgreSQL transport (dev only: real
    daprd has no such type) differs from components/local only in pubsub.yaml."""
    names = sorted(p.name for p in DEV_POSTGRES_PUBSUB.glob("*.yaml"))
    assert names == sorted(p.name for p in LOCAL.glob("*.yaml"))
    for name in names:
        if name != "pubsub.yaml":
            assert (DEV_POSTGRES_PUBSUB / name).read_text() == (LOCAL / name).read_text(), name
    pubsub = only(load_dir(DEV_POSTGRES_PUBSUB), "Component", "pubsub")
    assert pubsub["spec"]["type"] == "pubsub.postgresql"
    assert_secret_refs_resolve(load_dir(DEV_POSTGRES_PUBSUB))
