"""Component YAML for the sidecar suites: secrets from the environment and a PostgreSQL
actor state store (which also holds reminders and workflow history)."""

from __future__ import annotations

from pathlib import Path

DB_ENV = "TICKLER_DAPR_DATABASE_URL"

RESOURCES = f"""\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: envvar-secrets
spec:
  type: secretstores.local.env
  version: v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.postgresql
  version: v2
  metadata:
    - name: connectionString
      secretKeyRef:
        name: {DB_ENV}
        key: {DB_ENV}
    - name: actorStateStore
      value: "true"
auth:
  secretStore: envvar-secrets
"""


def state_store_resources(workdir: Path) -> Path:
    """A resources directory with the state store; its connection string comes from DB_ENV."""
    resources = workdir / "resources"
    resources.mkdir(parents=True, exist_ok=True)
    (resources / "components.yaml").write_text(RESOURCES)
    return resources
