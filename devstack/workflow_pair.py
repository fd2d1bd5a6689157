"""Shared set-up for the workflow tests: component YAML, the sidecar+app pair, and a client.

The app (apps/workflows_app.py) hosts the SDK's WorkflowRuntime; the test drives it with the
SDK's DaprWorkflowClient over the sidecar's gRPC port, so `--runtime dapr` runs the same tests
against real daprd.
"""

from __future__ import annotations

from pathlib import Path

import dapr.ext.workflow as wf
import psycopg

from devstack.apps.workflows_app import SIDE_EFFECTS_DDL
from devstack.processes import DaprPair
from devstack.state_store import DB_ENV, state_store_resources

APP = "devstack.apps.workflows_app:app"


def workflow_pair(workdir: Path, database_uri: str, runtime: str) -> DaprPair:
    """A pair for the workflow app on `database_uri` (which also holds the side effects)."""
    with psycopg.connect(database_uri, autocommit=True) as conn:
        conn.execute(SIDE_EFFECTS_DDL)
    resources = state_store_resources(workdir)
    env = {DB_ENV: database_uri, "WORKFLOWS_TEST_DB": database_uri}
    return DaprPair(APP, resources, workdir, runtime, extra_env=env)


def client_for(pair: DaprPair) -> wf.DaprWorkflowClient:
    return wf.DaprWorkflowClient(host="127.0.0.1", port=str(pair.grpc_port))


def side_effects(database_uri: str, instance_id: str) -> dict[int, int]:
    """step -> how many times the activity for that step applied its side effect."""
    with psycopg.connect(database_uri) as conn:
        rows = conn.execute(
            "SELECT step, applied FROM wf_side_effects WHERE instance_id = %s", (instance_id,)
        ).fetchall()
    return dict(rows)
