"""The engine's instance query (status and creation-time filters, paging) and filtered purge.

The forked durabletask protocol has only ListInstanceIDs, so filtering is a Python API of the
dev sidecar's engine (for an operators' dashboard); these tests run the engine in-process,
with the SDK's real worker and client talking to it over gRPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import dapr.ext.workflow as wf
import grpc
import pytest
from dapr.ext.workflow._durabletask.internal.orchestrator_service_pb2_grpc import (
    add_TaskHubSidecarServiceServicer_to_server,
)

from devstack.apps import workflows_app as app
from devstack.processes import free_port
from sidecar.workflows import WorkflowEngine
from sidecar.workflows.events import COMPLETED, FAILED, RUNNING
from sidecar.workflows.store import InstanceFilter


@dataclass
class Served:
    engine: WorkflowEngine
    client: wf.DaprWorkflowClient

    async def run(self, workflow, data) -> str:
        instance_id = await asyncio.to_thread(
            self.client.schedule_new_workflow, workflow, input=data
        )
        await asyncio.to_thread(
            self.client.wait_for_workflow_completion, instance_id, timeout_in_seconds=30
        )
        return instance_id


@pytest.fixture(scope="module")
async def served(make_database) -> AsyncIterator[Served]:
    pool = await asyncpg.create_pool(await make_database("wfquery"), min_size=1, max_size=5)
    engine = WorkflowEngine(pool)
    server = grpc.aio.server()
    add_TaskHubSidecarServiceServicer_to_server(engine.servicer, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await engine.start()
    runtime = app.workflow_runtime("127.0.0.1", str(port))
    await asyncio.to_thread(runtime.start)
    client = wf.DaprWorkflowClient("127.0.0.1", str(port))
    try:
        yield Served(engine, client)
    finally:
        client.close()
        await asyncio.to_thread(runtime.shutdown)
        await server.stop(grace=0.5)
        await engine.stop()
        await pool.close()


async def test_query_filters_by_status_and_pages_in_id_order(served: Served) -> None:
    completed = {await served.run(app.sequence, 1) for _ in range(3)}
    failed = await served.run(app.retrying, 10)

    first, token = await served.engine.query_instances(
        InstanceFilter(statuses=(COMPLETED,)), page_size=2
    )
    rest, last_token = await served.engine.query_instances(
        InstanceFilter(statuses=(COMPLETED,)), page_size=2, after=token
    )

    ids = [i.instance_id for i in first + rest]
    assert completed <= set(ids) and failed not in ids
    assert ids == sorted(ids) and len(first) == 2 and last_token is None
    only_failed, _ = await served.engine.query_instances(
        InstanceFilter(statuses=(FAILED,)), page_size=10
    )
    assert [i.instance_id for i in only_failed] == [failed]


async def test_query_filters_by_creation_time(served: Served) -> None:
    before = await served.run(app.sequence, 1)
    boundary = datetime.now(UTC)
    after = await served.run(app.sequence, 1)

    newer, _ = await served.engine.query_instances(
        InstanceFilter(created_from=boundary), page_size=100
    )
    older, _ = await served.engine.query_instances(
        InstanceFilter(created_to=boundary), page_size=100
    )

    assert after in {i.instance_id for i in newer} and before not in {i.instance_id for i in newer}
    assert before in {i.instance_id for i in older} and after not in {i.instance_id for i in older}


async def test_purge_by_filter_deletes_only_finished_matching_instances(served: Served) -> None:
    boundary = datetime.now(UTC)
    done = await served.run(app.sequence, 1)
    running = await asyncio.to_thread(served.client.schedule_new_workflow, app.approval, input=60)
    await asyncio.to_thread(served.client.wait_for_workflow_start, running, timeout_in_seconds=30)

    deleted = await served.engine.purge(where=InstanceFilter(created_from=boundary))

    assert deleted == 1
    assert await served.engine.get_instance(done) is None
    assert (await served.engine.get_instance(running)).status == RUNNING
    await asyncio.to_thread(served.client.terminate_workflow, running)
