"""The Helm chart, linted and rendered by real Helm, read back as Kubernetes and Dapr objects."""

from __future__ import annotations

import base64
import ipaddress
import json
from pathlib import Path

import pytest
import yaml

from domain.events import DEAD_LETTERS, REMINDERS, TASK_EVENTS, TASK_UPDATES
from tests.integration.deploy.helm import CHART, Helm
from tests.integration.deploy.resources import SENSITIVE_METADATA, component_metadata, only

ROOT = Path(__file__).resolve().parents[3]
ACTOR_TYPES = {"RecurringTaskActor", "ReminderScheduleActor"}


def app_container(docs: list[dict]) -> dict:
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "tickler")


def pod_annotations(docs: list[dict]) -> dict[str, str]:
    return only(docs, "Deployment")["spec"]["template"]["metadata"].get("annotations") or {}


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def test_lint_is_clean_in_strict_mode(helm: Helm) -> None:
    done = helm.run("lint", "--strict", str(CHART))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout
    assert "[ERROR]" not in done.stdout


def test_defaults_render_every_object_the_release_needs(rendered: list[dict]) -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in rendered)
    assert kinds == sorted(
        [
            ("ServiceAccount", "t-tickler"),
            ("Service", "t-tickler"),
            ("Deployment", "t-tickler"),
            ("PodDisruptionBudget", "t-tickler"),
            ("NetworkPolicy", "t-tickler"),
            ("NetworkPolicy", "t-tickler-migrate"),
            ("Job", "t-tickler-migrate"),
            ("Component", "pubsub"),
            ("Component", "statestore"),
            ("Component", "kubernetes"),
            ("Resiliency", "tickler-resiliency"),
            ("Configuration", "tickler-config"),
            ("Secret", "t-tickler-app-token"),
            ("Secret", "t-tickler-dapr-api-token"),
        ]
    )
    dapr_docs = [d for d in rendered if d["apiVersion"] == "dapr.io/v1alpha1"]
    assert {d["metadata"]["namespace"] for d in dapr_docs} == {"tickler"}


def test_deployment_carries_the_dapr_sidecar_annotations(rendered: list[dict]) -> None:
    annotations = pod_annotations(rendered)
    port = app_container(rendered)["ports"][0]["containerPort"]
    assert annotations["dapr.io/enabled"] == "true"
    assert annotations["dapr.io/app-id"] == "tickler"
    assert annotations["dapr.io/app-port"] == str(port) == "8000"
    assert annotations["dapr.io/app-protocol"] == "http"
    assert annotations["dapr.io/config"] == "tickler-config"
    assert annotations["dapr.io/log-level"] == "info"
    assert annotations["dapr.io/enable-api-logging"] == "false"
    assert annotations["dapr.io/enable-app-health-check"] == "true"
    assert annotations["dapr.io/app-health-check-path"] == "/healthz"
    assert annotations["dapr.io/sidecar-cpu-request"] == "100m"
    assert annotations["dapr.io/sidecar-memory-request"] == "128Mi"
    assert annotations["dapr.io/sidecar-memory-limit"] == "512Mi"
    # Kubernetes only accepts string annotation values.
    assert all(isinstance(v, str) for v in annotations.values())


def test_app_container_serves_on_the_port_dapr_calls(rendered: list[dict]) -> None:
    container = app_container(rendered)
    assert container["command"] == [
        "tickler",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--no-migrate",
    ]
    assert container["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9464, "protocol": "TCP"},
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["TICKLER_METRICS_HOST"], env["TICKLER_METRICS_PORT"]) == ("0.0.0.0", "9464")


def test_probes_check_liveness_on_healthz_and_readiness_on_readyz(rendered: list[dict]) -> None:
    container = app_container(rendered)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_pods_run_as_non_root_on_a_read_only_root_without_capabilities(
    rendered: list[dict],
) -> None:
    for kind in ("Deployment", "Job"):
        pod = only(rendered, kind)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            # The read-only root needs one writable scratch dir.
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_app_runs_in_production_mode_with_secrets_from_kubernetes(rendered: list[dict]) -> None:
    env = env_of(app_container(rendered))
    assert env["TICKLER_ENV"]["value"] == "production"
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "tickler-postgres",
        "key": "url",
    }
    assert env["TICKLER_JWT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "tickler-jwt",
        "key": "secret",
    }
    assert "value" not in env["DATABASE_URL"]
    assert "value" not in env["TICKLER_JWT_SECRET"]


def test_default_render_holds_no_plaintext_credentials(helm: Helm) -> None:
    done = helm.run("template", "t", str(CHART))
    assert done.returncode == 0, done.stderr
    assert "postgresql://" not in done.stdout
    # The only Secrets are the channel tokens the chart generates; no value reaches them.
    secrets = [d for d in helm.template() if d["kind"] == "Secret"]
    assert {s["metadata"]["labels"]["app.kubernetes.io/component"] for s in secrets} == {
        "api-token"
    }
    for component in (d for d in helm.template() if d["kind"] == "Component"):
        for name, item in component_metadata(component).items():
            if name in SENSITIVE_METADATA:
                assert "value" not in item, f"{component['metadata']['name']}.{name}"
                assert set(item["secretKeyRef"]) == {"name", "key"}
        if any("secretKeyRef" in item for item in component_metadata(component).values()):
            assert component["auth"] == {"secretStore": "kubernetes"}


def test_kafka_pubsub_authenticates_with_scram_over_tls(rendered: list[dict]) -> None:
    pubsub = only(rendered, "Component", "pubsub")
    assert pubsub["spec"]["type"] == "pubsub.kafka"
    meta = component_metadata(pubsub)
    assert meta["brokers"]["value"] == "kafka-bootstrap.kafka.svc.cluster.local:9093"
    assert meta["consumerGroup"]["value"] == "tickler"
    assert meta["clientID"]["value"] == "tickler"
    assert meta["authType"]["value"] == "password"
    assert meta["saslMechanism"]["value"] == "SHA-512"
    assert meta["saslUsername"]["secretKeyRef"] == {"name": "tickler-kafka", "key": "username"}
    assert meta["saslPassword"]["secretKeyRef"] == {"name": "tickler-kafka", "key": "password"}
    assert meta["caCert"]["secretKeyRef"] == {"name": "tickler-kafka", "key": "ca.crt"}
    assert "disableTls" not in meta
    assert meta["initialOffset"]["value"] == "oldest"
    assert meta["maxMessageBytes"]["value"] == "1048576"
    assert meta["consumeRetryInterval"]["value"] == "200ms"
    assert pubsub["scopes"] == ["tickler"]


def test_state_store_is_postgresql_v2_and_holds_actor_state(rendered: list[dict]) -> None:
    store = only(rendered, "Component", "statestore")
    assert (store["spec"]["type"], store["spec"]["version"]) == ("state.postgresql", "v2")
    meta = component_metadata(store)
    assert meta["actorStateStore"]["value"] == "true"
    assert meta["connectionString"]["secretKeyRef"] == {"name": "tickler-postgres", "key": "url"}
    assert meta["tableName"]["value"] == "dapr_state"
    assert meta["timeout"]["value"] == "20"
    assert meta["cleanupInterval"]["value"] == "3600"
    # Exactly one actor state store, or daprd refuses to start the actor runtime.
    actor_stores = [
        d
        for d in rendered
        if d["kind"] == "Component"
        and component_metadata(d).get("actorStateStore", {}).get("value") == "true"
    ]
    assert actor_stores == [store]


def test_resiliency_guards_each_actor_type_with_a_circuit_breaker(rendered: list[dict]) -> None:
    resiliency = only(rendered, "Resiliency")
    policies, targets = resiliency["spec"]["policies"], resiliency["spec"]["targets"]
    assert set(targets["actors"]) == ACTOR_TYPES
    for actor in targets["actors"].values():
        assert actor["circuitBreaker"] in policies["circuitBreakers"]
        assert actor["circuitBreakerScope"] in {"id", "type", "both"}
        assert actor["circuitBreakerCacheSize"] > 0
    assert resiliency["scopes"] == ["tickler"]


def test_resiliency_policies_are_the_components_folder_ones(rendered: list[dict]) -> None:
    """One retry budget everywhere: tests/unit/messaging/test_publish_budget.py checks the files'
    publish budget against the outbox relay's timeout, so the chart must not drift."""
    cluster = yaml.safe_load((ROOT / "components" / "kubernetes" / "resiliency.yaml").read_text())
    assert only(rendered, "Resiliency")["spec"]["policies"] == cluster["spec"]["policies"]


def test_resiliency_targets_name_only_defined_policies(rendered: list[dict]) -> None:
    resiliency = only(rendered, "Resiliency")
    policies, targets = resiliency["spec"]["policies"], resiliency["spec"]["targets"]
    sections = {"timeout": "timeouts", "retry": "retries", "circuitBreaker": "circuitBreakers"}
    uses = [*targets["apps"].values(), *targets["actors"].values()]
    for component in targets["components"].values():
        uses.extend(component.get(direction, {}) for direction in ("inbound", "outbound"))
    assert set(targets["components"]) == {"pubsub", "statestore"}
    assert set(targets["components"]["pubsub"]) == {"inbound", "outbound"}
    for use in uses:
        for field, section in sections.items():
            if field in use:
                assert use[field] in policies[section], f"{field} {use[field]} is not defined"
    for retry in policies["retries"].values():
        assert retry["policy"] == "exponential"
        assert retry["maxRetries"] > 0


def test_configuration_traces_to_an_otel_collector(rendered: list[dict]) -> None:
    config = only(rendered, "Configuration")
    assert config["metadata"]["name"] == pod_annotations(rendered)["dapr.io/config"]
    tracing = config["spec"]["tracing"]
    assert 0 < float(tracing["samplingRate"]) <= 1
    assert tracing["otel"]["endpointAddress"].endswith(":4317")
    assert tracing["otel"]["protocol"] == "grpc"
    assert config["spec"]["secrets"]["scopes"] == [
        {"storeName": "kubernetes", "defaultAccess": "deny"}
    ]


def test_migrations_run_as_a_hook_job_outside_the_service(rendered: list[dict]) -> None:
    job = only(rendered, "Job")
    hooks = job["metadata"]["annotations"]
    assert set(hooks["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in hooks["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]
    assert pod["spec"]["containers"][0]["command"] == ["tickler", "migrate"]
    assert pod["spec"]["restartPolicy"] == "Never"
    # No sidecar: a daprd that never exits would keep the Job from completing.
    assert not any(k.startswith("dapr.io/") for k in pod["metadata"].get("annotations") or {})
    env = env_of(pod["spec"]["containers"][0])
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "tickler-postgres"
    selector = only(rendered, "Service")["spec"]["selector"]
    assert not selector.items() <= pod["metadata"]["labels"].items()


def test_service_and_disruption_budget_select_the_app_pods(rendered: list[dict]) -> None:
    pod_labels = only(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    service = only(rendered, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = only(rendered, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_notes_list_the_topics_the_app_uses(helm: Helm) -> None:
    done = helm.run("install", "t", str(CHART), "--dry-run=client", "--namespace", "tickler")
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    listed = {line.strip()[2:] for line in notes.splitlines() if line.strip().startswith("- ")}
    assert listed == {TASK_EVENTS, REMINDERS, TASK_UPDATES, DEAD_LETTERS}


def test_overrides_change_brokers_and_replicas(helm: Helm) -> None:
    docs = helm.template(
        "--set-string", r"kafka.brokers=kafka-0:9092\,kafka-1:9092", "--set", "replicaCount=3"
    )
    brokers = component_metadata(only(docs, "Component", "pubsub"))["brokers"]["value"]
    assert brokers == "kafka-0:9092,kafka-1:9092"
    assert only(docs, "Deployment")["spec"]["replicas"] == 3


def test_changing_the_container_port_moves_the_app_dapr_and_the_probes_together(
    helm: Helm,
) -> None:
    docs = helm.template("--set", "containerPort=9000")
    container = app_container(docs)
    command = container["command"]
    assert command[command.index("--port") + 1] == "9000"
    assert container["ports"][0]["containerPort"] == 9000
    assert pod_annotations(docs)["dapr.io/app-port"] == "9000"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"


def test_secret_names_are_configurable(helm: Helm) -> None:
    docs = helm.template(
        "--set", "postgres.secretName=pg-creds", "--set", "kafka.secretName=kafka-creds"
    )
    store = component_metadata(only(docs, "Component", "statestore"))
    assert store["connectionString"]["secretKeyRef"]["name"] == "pg-creds"
    pubsub = component_metadata(only(docs, "Component", "pubsub"))
    assert pubsub["saslPassword"]["secretKeyRef"]["name"] == "kafka-creds"
    env = env_of(app_container(docs))
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "pg-creds"


def test_oidc_settings_reach_the_app_and_can_replace_the_dev_secret(helm: Helm) -> None:
    default = env_of(app_container(helm.template()))
    assert "TICKLER_JWT_SECRET" in default and "TICKLER_OIDC_JWKS_URL" not in default
    assert default["TICKLER_RATE_LIMIT_PER_S"]["value"] == "10"
    assert default["TICKLER_RATE_LIMIT_BURST"]["value"] == "100"
    oidc = [
        "--set", "oidc.jwksUrl=https://idp.test/keys", "--set", "oidc.issuer=https://idp.test/",
        "--set", "oidc.audience=tickler", "--set", "publicUrl=https://tickler.test",
    ]  # fmt: skip
    env = env_of(app_container(helm.template(*oidc, "--set", "jwt.secretName=")))
    assert "TICKLER_JWT_SECRET" not in env
    assert env["TICKLER_OIDC_JWKS_URL"]["value"] == "https://idp.test/keys"
    assert env["TICKLER_OIDC_ISSUER"]["value"] == "https://idp.test/"
    assert env["TICKLER_OIDC_AUDIENCE"]["value"] == "tickler"
    assert env["TICKLER_OIDC_USER_CLAIM"]["value"] == "sub"
    assert env["TICKLER_PUBLIC_URL"]["value"] == "https://tickler.test"
    neither = helm.run("template", "t", str(CHART), "--set", "jwt.secretName=")
    assert neither.returncode != 0 and "oidc.jwksUrl" in neither.stderr
    half = helm.run("template", "t", str(CHART), "--set", "oidc.jwksUrl=https://idp.test/k")
    assert half.returncode != 0 and "oidc.issuer" in half.stderr


def test_autoscaling_takes_over_the_replica_count(helm: Helm) -> None:
    docs = helm.template("--set", "autoscaling.enabled=true", "--set", "autoscaling.maxReplicas=9")
    hpa = only(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == only(docs, "Deployment")["metadata"]["name"]
    assert hpa["spec"]["maxReplicas"] == 9
    assert "replicas" not in only(docs, "Deployment")["spec"]


def test_sidecar_settings_follow_values(helm: Helm) -> None:
    docs = helm.template(
        "--set",
        "dapr.logLevel=debug",
        "--set",
        "dapr.enableApiLogging=true",
        "--set",
        "dapr.appMaxConcurrency=16",
        "--set",
        "dapr.sidecar.resources.limits.cpu=1",
    )
    annotations = pod_annotations(docs)
    assert annotations["dapr.io/log-level"] == "debug"
    assert annotations["dapr.io/enable-api-logging"] == "true"
    assert annotations["dapr.io/app-max-concurrency"] == "16"
    assert annotations["dapr.io/sidecar-cpu-limit"] == "1"
    assert "dapr.io/app-max-concurrency" not in pod_annotations(helm.template())


def test_dapr_can_be_switched_off_or_left_to_the_platform(helm: Helm) -> None:
    no_sidecar = helm.template("--set", "dapr.enabled=false")
    assert not any(k.startswith("dapr.io/") for k in pod_annotations(no_sidecar))
    platform_managed = helm.template("--set", "dapr.resources.enabled=false")
    assert not [d for d in platform_managed if d["apiVersion"] == "dapr.io/v1alpha1"]
    assert pod_annotations(platform_managed)["dapr.io/config"] == "tickler-config"


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ("replicaCount=0", "/replicaCount"),
        ("kafka.initialOffset=latest", "/kafka/initialOffset"),
        ("kafka.saslMechanism=PLAIN", "/kafka/saslMechanism"),
        ("dapr.appId=Tickler_App", "/dapr/appId"),
        ("env.DATABASE_URL=postgresql://u:p@db/tickler", "DATABASE_URL"),
    ],
)
def test_schema_rejects_invalid_values(helm: Helm, override: str, complaint: str) -> None:
    done = helm.run("template", "t", str(CHART), "--set", override)
    assert done.returncode != 0
    assert complaint in done.stderr


def secret_ref(entry: dict) -> dict:
    return entry["valueFrom"]["secretKeyRef"]


def test_the_sidecar_app_channel_is_authenticated_both_ways(rendered: list[dict]) -> None:
    """daprd sends APP_API_TOKEN to the app and requires DAPR_API_TOKEN from it; the
    injector reads each from the Secret an annotation names, key `token`
    (dapr/dapr pkg/injector/patcher/sidecar_container.go), and the app reads the same."""
    annotations = pod_annotations(rendered)
    env = env_of(app_container(rendered))
    assert annotations["dapr.io/app-token-secret"] == "t-tickler-app-token"
    assert annotations["dapr.io/api-token-secret"] == "t-tickler-dapr-api-token"
    assert secret_ref(env["APP_API_TOKEN"]) == {"name": "t-tickler-app-token", "key": "token"}
    assert secret_ref(env["DAPR_API_TOKEN"]) == {
        "name": "t-tickler-dapr-api-token",
        "key": "token",
    }
    # the migration Job loads production settings too, which refuse to start without it
    job = only(rendered, "Job")["spec"]["template"]["spec"]["containers"][0]
    assert secret_ref(env_of(job)["APP_API_TOKEN"])["name"] == "t-tickler-app-token"


def test_generated_token_secrets_exist_before_the_migration_job_and_are_random(
    helm: Helm,
) -> None:
    first, second = helm.template(), helm.template()
    tokens = [
        {d["metadata"]["name"]: d["data"]["token"] for d in docs if d["kind"] == "Secret"}
        for docs in (first, second)
    ]
    assert tokens[0].keys() == {"t-tickler-app-token", "t-tickler-dapr-api-token"}
    for name, token in tokens[0].items():
        assert token != tokens[1][name]  # random per render when nothing is live to keep
        assert len(base64.b64decode(token)) >= 32
    assert len(set(tokens[0].values())) == 2
    job_weight = int(only(first, "Job")["metadata"]["annotations"]["helm.sh/hook-weight"])
    for secret in (d for d in first if d["kind"] == "Secret"):
        hooks = secret["metadata"]["annotations"]
        assert set(hooks["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
        assert int(hooks["helm.sh/hook-weight"]) < job_weight
        assert hooks["helm.sh/hook-delete-policy"] == "before-hook-creation"


def test_token_secrets_keep_their_value_across_upgrades(helm: Helm) -> None:
    """`lookup` reads the live Secret back; without a cluster it returns nothing, so the
    template's reuse branch is checked in its source."""
    template = (CHART / "templates" / "api-tokens.yaml").read_text()
    assert 'lookup "v1" "Secret" $.Release.Namespace $name' in template
    assert 'index $live.data "token"' in template


def test_named_token_secrets_are_used_and_none_is_created(helm: Helm) -> None:
    docs = helm.template(
        "--set", "appToken.secretName=ops-app-token", "--set", "daprApiToken.secretName=ops-api"
    )
    assert not [d for d in docs if d["kind"] == "Secret"]
    annotations = pod_annotations(docs)
    assert annotations["dapr.io/app-token-secret"] == "ops-app-token"
    assert annotations["dapr.io/api-token-secret"] == "ops-api"
    env = env_of(app_container(docs))
    assert secret_ref(env["APP_API_TOKEN"]) == {"name": "ops-app-token", "key": "token"}
    assert secret_ref(env["DAPR_API_TOKEN"]) == {"name": "ops-api", "key": "token"}


def test_schema_refuses_tokens_as_plain_env(helm: Helm) -> None:
    done = helm.run("template", "t", str(CHART), "--set", "env.APP_API_TOKEN=plain")
    assert done.returncode != 0
    assert "APP_API_TOKEN" in done.stderr or "env" in done.stderr


def test_monitoring_is_opt_in_and_scrapes_the_metrics_port_with_the_alerts_job(
    helm: Helm, rendered: list[dict]
) -> None:
    assert not [d for d in rendered if d["apiVersion"] == "monitoring.coreos.com/v1"]
    docs = helm.template("--values", str(CHART / "ci" / "values-monitoring.yaml"))
    monitor = only(docs, "ServiceMonitor")
    service = only(docs, "Service")
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    metrics = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    assert metrics["targetPort"] == "metrics" and metrics["port"] == 9464
    assert {"targetLabel": "job", "replacement": "tickler"} in endpoint["relabelings"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["spec"]["selector"].items()
    )
    rule = only(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # the rules promtool checks and tests, as they are
    assert rule["spec"] == yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())


def test_the_grafana_dashboard_is_an_opt_in_configmap_the_sidecar_finds_by_label(
    helm: Helm, rendered: list[dict]
) -> None:
    assert not [d for d in rendered if d["kind"] == "ConfigMap"]
    docs = helm.template("--values", str(CHART / "ci" / "values-monitoring.yaml"))
    config = only(docs, "ConfigMap", "t-tickler-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config["metadata"]["annotations"] == {"grafana_folder": "Tickler"}
    assert config["metadata"]["namespace"] == "tickler"
    # the file as it is: Grafana's {{label}} legends pass through Helm untouched
    shipped = json.loads((CHART / "files" / "dashboard.json").read_text())
    assert json.loads(config["data"]["tickler.json"]) == shipped
    assert "{{route}}" in config["data"]["tickler.json"]
    other = helm.template(
        "--set",
        "monitoring.dashboard.enabled=true",
        "--set",
        "monitoring.dashboard.sidecarLabel=dashboards.example.org/grafana",
        "--set",
        "monitoring.dashboard.sidecarLabelValue=tickler",
        "--set",
        "monitoring.dashboard.namespace=monitoring",
    )
    config = only(other, "ConfigMap", "t-tickler-dashboard")
    assert config["metadata"]["labels"]["dashboards.example.org/grafana"] == "tickler"
    assert "grafana_dashboard" not in config["metadata"]["labels"]
    assert config["metadata"]["namespace"] == "monitoring"


def test_the_pod_monitor_scrapes_daprd_metrics_port_on_the_app_pods_only(
    helm: Helm, rendered: list[dict]
) -> None:
    assert not [d for d in rendered if d["kind"] == "PodMonitor"]
    docs = helm.template("--values", str(CHART / "ci" / "values-monitoring.yaml"))
    monitor = only(docs, "PodMonitor", "t-tickler-daprd")
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    # the name the sidecar injector gives daprd's metrics port, on the port annotated here
    assert endpoint["port"] == "dapr-metrics"
    assert pod_annotations(docs)["dapr.io/enable-metrics"] == "true"
    assert pod_annotations(docs)["dapr.io/metrics-port"] == "9090"
    # its own job: up{job="tickler"} (TicklerDown) counts only the app's replicas
    [relabel] = endpoint["relabelings"]
    assert relabel == {"targetLabel": "job", "replacement": "tickler-daprd"}
    selector = monitor["spec"]["selector"]["matchLabels"].items()
    app_pod = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    job_pod = only(docs, "Job")["spec"]["template"]["metadata"]["labels"].items()
    assert selector <= app_pod
    assert not selector <= job_pod
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["tickler"]}
    # no daprd metrics port to scrape without the sidecar's metrics
    quiet = helm.template(
        "--values",
        str(CHART / "ci" / "values-monitoring.yaml"),
        "--set",
        "dapr.metrics.enabled=false",
    )
    assert not [d for d in quiet if d["kind"] == "PodMonitor"]
    refused = helm.run("template", "t", str(CHART), "--set", "monitoring.podMonitor.job=tickler")
    assert refused.returncode != 0 and "/monitoring/podMonitor/job" in refused.stderr


def policy_ports(rule: dict) -> set[tuple[object, str]]:
    return {(p["port"], p.get("protocol", "TCP")) for p in rule["ports"]}


def ip_allowed(rules: list[dict], address: str, port: int) -> bool:
    """Whether an egress rule with ipBlock peers lets the pods connect to address:port."""
    ip = ipaddress.ip_address(address)
    for rule in rules:
        if (port, "TCP") not in policy_ports(rule):
            continue
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block and ip.version == ipaddress.ip_network(block["cidr"]).version:
                inside = ip in ipaddress.ip_network(block["cidr"])
                excepted = any(ip in ipaddress.ip_network(c) for c in block.get("except", []))
                if inside and not excepted:
                    return True
    return False


def test_the_network_policy_admits_the_ingress_controller_sidecars_and_prometheus_only(
    rendered: list[dict],
) -> None:
    policy = only(rendered, "NetworkPolicy", "t-tickler")["spec"]
    assert (
        policy["podSelector"]["matchLabels"]
        == (only(rendered, "Deployment")["spec"]["selector"]["matchLabels"])
    )
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    by_port = {port: rule["from"] for rule in policy["ingress"] for port, _ in policy_ports(rule)}
    # named ports: the app container's, and the ones the injector gives daprd's container
    assert set(by_port) == {"http", "dapr-internal", "metrics", "dapr-metrics"}
    app_ports = {p["name"] for p in app_container(rendered)["ports"]}
    assert {"http", "metrics"} <= app_ports
    assert by_port["http"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    assert by_port["dapr-internal"] == [
        {"podSelector": {"matchLabels": {"dapr.io/sidecar-injected": "true"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dapr-system"}}},
    ]
    monitoring = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert by_port["metrics"] == by_port["dapr-metrics"] == monitoring
    # daprd's API ports serve the app over loopback: nothing outside the pod may reach them
    assert not {3500, 50001, "dapr-http", "dapr-grpc"} & set(by_port)


def test_the_network_policy_lets_the_pods_reach_only_what_tickler_and_daprd_use(
    rendered: list[dict],
) -> None:
    egress = only(rendered, "NetworkPolicy", "t-tickler")["spec"]["egress"]
    for rule in egress:
        # an empty `to` would allow every destination on those ports
        assert rule["to"], rule
    ports = set().union(*(policy_ports(rule) for rule in egress))
    assert {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (9093, "TCP")} <= ports
    # sentry, placement, the Scheduler and the operator
    assert {(50001, "TCP"), (50005, "TCP"), (50006, "TCP"), (6500, "TCP")} <= ports
    [dns] = [r for r in egress if (53, "UDP") in policy_ports(r)]
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    # webhooks: public addresses, never private ones or the cloud metadata service
    assert ip_allowed(egress, "93.184.216.34", 443)
    assert ip_allowed(egress, "93.184.216.34", 80)
    assert ip_allowed(egress, "2606:2800:220:1::1", 443)
    for private in ("10.0.0.7", "172.20.1.1", "192.168.1.1", "169.254.169.254", "100.64.0.1"):
        assert not ip_allowed(egress, private, 443), private
    assert not ip_allowed(egress, "fd00::1", 443)
    assert not ip_allowed(egress, "93.184.216.34", 22)


def test_the_migration_job_may_reach_dns_and_postgres_and_nothing_reaches_it(
    rendered: list[dict],
) -> None:
    policy = only(rendered, "NetworkPolicy", "t-tickler-migrate")["spec"]
    job_labels = only(rendered, "Job")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= job_labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"] and policy["ingress"] == []
    ports = set().union(*(policy_ports(rule) for rule in policy["egress"]))
    assert ports == {(53, "UDP"), (53, "TCP"), (5432, "TCP")}


def test_network_policy_and_its_egress_half_can_be_turned_off(helm: Helm) -> None:
    assert not [
        d
        for d in helm.template("--set", "networkPolicy.enabled=false")
        if d["kind"] == "NetworkPolicy"
    ]
    docs = helm.template("--set", "networkPolicy.egress.enabled=false")
    [policy] = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert "egress" not in policy["spec"]


def test_the_schema_refuses_a_network_policy_peer_list_that_would_allow_everything(
    helm: Helm,
) -> None:
    for key in ("networkPolicy.egress.postgres.to", "networkPolicy.ingress.http.from"):
        done = helm.run("template", "t", str(CHART), "--set-json", f"{key}=[]")
        assert done.returncode != 0, key
        assert "/" + key.replace(".", "/") in done.stderr


def job_container(docs: list[dict]) -> dict:
    return only(docs, "Job")["spec"]["template"]["spec"]["containers"][0]


def test_logs_are_json_by_default_and_no_otel_variable_is_set_unless_configured(
    rendered: list[dict],
) -> None:
    for container in (app_container(rendered), job_container(rendered)):
        env = env_of(container)
        assert env["TICKLER_LOG_FORMAT"]["value"] == "json"
        assert not [name for name in env if name.startswith("OTEL_")]


def test_otel_values_become_the_sdk_variables_of_the_app_only(helm: Helm) -> None:
    docs = helm.template(
        "--set",
        "otel.endpoint=http://otel-collector.observability:4317",
        "--set",
        "otel.protocol=grpc",
        "--set",
        "otel.sampler=parentbased_traceidratio",
        "--set",
        "otel.samplerArg=0.25",
        "--set",
        "otel.resourceAttributes.service\\.namespace=agents",
        "--set",
        "otel.resourceAttributes.deployment\\.environment=production",
        "--set",
        "logFormat=human",
    )
    env = {e["name"]: e.get("value") for e in app_container(docs)["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4317"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env["OTEL_SERVICE_NAME"] == "t-tickler"  # the release's full name
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == (
        "deployment.environment=production,service.namespace=agents"
    )
    assert env["TICKLER_LOG_FORMAT"] == "human"
    job = env_of(job_container(docs))
    assert job["TICKLER_LOG_FORMAT"]["value"] == "human"
    assert not [name for name in job if name.startswith("OTEL_")]
    named = helm.template("--set", "otel.endpoint=http://c:4318", "--set", "otel.serviceName=tk")
    assert env_of(app_container(named))["OTEL_SERVICE_NAME"]["value"] == "tk"
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" not in env_of(app_container(named))


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ("logFormat=text", "/logFormat"),
        ("otel.protocol=http/json", "/otel/protocol"),
        ("otel.sampler=sometimes", "/otel/sampler"),
        ("otel.endpoint=otel-collector:4317", "/otel/endpoint"),
        ("otel.resourceAttributes.team=a\\,b", "/otel/resourceAttributes"),
        ("otel.exporter=zipkin", "otel"),
        ("env.TICKLER_LOG_FORMAT=human", "TICKLER_LOG_FORMAT"),
    ],
)
def test_schema_rejects_invalid_log_and_otel_values(
    helm: Helm, override: str, complaint: str
) -> None:
    done = helm.run("template", "t", str(CHART), "--set", override)
    assert done.returncode != 0
    assert complaint in done.stderr


def profile(helm: Helm, name: str, *args: str) -> list[dict]:
    return helm.template("--values", str(CHART / "ci" / f"values-{name}.yaml"), *args)


def test_the_production_profile_runs_spread_autoscaled_replicas_locked_down_and_monitored(
    helm: Helm,
) -> None:
    docs = profile(helm, "production")
    hpa = only(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    assert "replicas" not in only(docs, "Deployment")["spec"]  # the HPA owns the count
    assert only(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert hpa["minReplicas"] - 1 >= 2, "a drain leaves two replicas serving"
    assert only(docs, "NetworkPolicy", "t-tickler")["spec"]["policyTypes"] == ["Ingress", "Egress"]
    container = app_container(docs)
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    selector = only(docs, "Deployment")["spec"]["selector"]
    spread = pod["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    # the chart fills in the selector the profile cannot know (it holds the release name)
    assert all(c["labelSelector"] == selector for c in spread)
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap"):
        assert [d for d in docs if d["kind"] == kind], kind
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4317")
    assert env["TICKLER_LOG_FORMAT"] == "json"


def test_a_topology_spread_constraint_keeps_the_selector_it_names(helm: Helm) -> None:
    docs = helm.template(
        "--set-json",
        'topologySpreadConstraints=[{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",'
        ' "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"a": "b"}}}]',
    )
    [spread] = only(docs, "Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["labelSelector"] == {"matchLabels": {"a": "b"}}


def test_the_cloud_profile_verifies_postgresql_tls_in_every_client(helm: Helm) -> None:
    docs = profile(helm, "cloud")
    pod = only(docs, "Deployment")["spec"]["template"]
    job = only(docs, "Job")["spec"]["template"]["spec"]
    for spec, container in ((pod["spec"], app_container(docs)), (job, job_container(docs))):
        env = env_of(container)
        assert env["PGSSLMODE"]["value"] == "verify-full"
        assert env["PGSSLROOTCERT"]["value"] == "/mnt/postgres-ca/ca.crt"
        assert {"name": "postgres-ca", "mountPath": "/mnt/postgres-ca", "readOnly": True} in (
            container["volumeMounts"]
        )
        [volume] = [v for v in spec["volumes"] if v["name"] == "postgres-ca"]
        assert volume["secret"] == {
            "secretName": "tickler-postgres-ca",
            "items": [{"key": "ca.crt", "path": "ca.crt"}],
        }
    # daprd's state store (pgx) gets the same variables and the same mount
    annotations = pod["metadata"]["annotations"]
    assert annotations["dapr.io/volume-mounts"] == "postgres-ca:/mnt/postgres-ca"
    assert annotations["dapr.io/env"] == (
        "PGSSLMODE=verify-full,PGSSLROOTCERT=/mnt/postgres-ca/ca.crt"
    )
    # the URL stays a secret reference with no TLS parameters the app's driver would refuse
    store = component_metadata(only(docs, "Component", "statestore"))
    assert store["connectionString"]["secretKeyRef"] == {"name": "tickler-postgres", "key": "url"}


def test_the_cloud_profile_speaks_sasl_scram_over_tls_with_the_system_roots(helm: Helm) -> None:
    meta = component_metadata(only(profile(helm, "cloud"), "Component", "pubsub"))
    assert meta["authType"]["value"] == "password"
    assert meta["saslMechanism"]["value"] == "SHA-256"
    assert meta["saslUsername"]["secretKeyRef"] == {"name": "tickler-kafka", "key": "username"}
    assert meta["saslPassword"]["secretKeyRef"] == {"name": "tickler-kafka", "key": "password"}
    assert "disableTls" not in meta  # TLS on, checked against the system's roots
    assert "caCert" not in meta
    plain = helm.template("--set", "kafka.saslMechanism=PLAINTEXT")
    assert component_metadata(only(plain, "Component", "pubsub"))["saslMechanism"] == {
        "name": "saslMechanism",
        "value": "PLAINTEXT",
    }


def test_no_postgresql_tls_settings_unless_asked(rendered: list[dict]) -> None:
    for container in (app_container(rendered), job_container(rendered)):
        assert not {"PGSSLMODE", "PGSSLROOTCERT"} & env_of(container).keys()
        assert all(m["name"] != "postgres-ca" for m in container["volumeMounts"])
    annotations = pod_annotations(rendered)
    assert "dapr.io/env" not in annotations and "dapr.io/volume-mounts" not in annotations


def test_the_schema_refuses_verify_full_without_a_ca_bundle(helm: Helm) -> None:
    done = helm.run("template", "t", str(CHART), "--set", "postgres.sslMode=verify-full")
    assert done.returncode != 0 and "/postgres" in done.stderr
    done = helm.run("template", "t", str(CHART), "--set", "postgres.sslMode=require")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("values", [None, *sorted((CHART / "ci").glob("*.yaml"))])
def test_every_object_names_the_release_namespace(helm: Helm, values: Path | None) -> None:
    """So `helm template | kubectl apply` lands where `helm install -n` would."""
    docs = helm.template(*(["--values", str(values)] if values else []), namespace="tickler")
    for doc in docs:
        assert doc["metadata"].get("namespace") == "tickler", (doc["kind"], doc["metadata"])


def test_the_containers_have_cpu_and_memory_limits(rendered: list[dict]) -> None:
    for container in (app_container(rendered), job_container(rendered)):
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), container["name"]
