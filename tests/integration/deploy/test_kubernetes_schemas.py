"""The chart's output against the Kubernetes API schemas, offline (kubernetes-validate
bundles them), for the default values and for every profile in charts/tickler/ci/: the
same set the pipeline's chart job renders (.github/workflows/ci.yml runs this module)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from tests.integration.deploy.helm import CHART, Helm

# the oldest Kubernetes the chart claims (Chart.yaml kubeVersion), and the newest bundled
VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
# custom resources, whose schemas are their operators' and not Kubernetes': Dapr's
# components, configuration and resiliency (checked by tests/integration/deploy/test_chart.py
# against the fields daprd reads), and the Prometheus Operator's ServiceMonitor and
# PrometheusRule (test_chart.py and test_alert_rules.py)
CUSTOM = {"dapr.io/v1alpha1", "monitoring.coreos.com/v1"}
PROFILES = sorted((CHART / "ci").glob("*.yaml")) if (CHART / "ci").is_dir() else []


@pytest.mark.parametrize("values", [None, *PROFILES], ids=lambda p: p.name if p else "defaults")
@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_object_is_valid_kubernetes(
    helm: Helm, values: Path | None, version: str
) -> None:
    docs = helm.template(*(["--values", str(values)] if values else []))
    checked = 0
    for doc in docs:
        if doc["apiVersion"] in CUSTOM:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{doc['kind']}/{doc['metadata']['name']} is not valid Kubernetes {version}: "
                f"{exc.message} at {'/'.join(map(str, exc.path))}"
            ) from None
        checked += 1
    assert checked >= 5, "the Deployment, Service, Job, ServiceAccount and the rest"
