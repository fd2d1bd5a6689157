"""The pytest side of devstack.stack: a module-scoped fixture running the whole stack."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from devstack.clock import DevClock
from devstack.processes import TansuBroker
from devstack.stack import SECRET, Stack, app_pair, kafka_resources
from store.database import migrate


def stack_fixture(
    name: str, resources: Callable[[Path], Path] | None = None, **env: str
) -> Callable[..., AsyncIterator[Stack]]:
    """A module-scoped fixture running a fresh stack on its own database and, unless
    `resources` names other components, its own Tansu broker; `env`: more of the app's
    environment."""

    @pytest.fixture(scope="module")
    async def fixture(make_database, runtime, tmp_path_factory) -> AsyncIterator[Stack]:
        url = await make_database(name)
        await asyncio.to_thread(migrate, url)
        workdir = tmp_path_factory.mktemp(name)
        broker = None
        if resources is not None:
            resources_path = resources(workdir)
        else:
            broker = TansuBroker(workdir / "tansu.log").start()
            resources_path = kafka_resources(workdir, broker.address)
        clock = DevClock(workdir / "clock", controllable=runtime != "dapr")
        pair = app_pair(
            url,
            SECRET,
            resources_path,
            workdir,
            runtime=runtime,
            clock=clock,
            TICKLER_WEBHOOK_PRIVATE_TARGETS="true",  # the receivers run on loopback
            **env,
        )
        # The test process talks to this sidecar as the app does: the SDK objects a test
        # builds (DaprWorkflowClient, DaprClient) read DAPR_API_TOKEN from the environment.
        previous = os.environ.get("DAPR_API_TOKEN")
        os.environ["DAPR_API_TOKEN"] = pair.dapr_api_token
        try:
            await asyncio.to_thread(pair.start)
            try:
                yield Stack(pair, url, clock)
            finally:
                await asyncio.to_thread(pair.stop)
        finally:
            if previous is None:
                os.environ.pop("DAPR_API_TOKEN", None)
            else:
                os.environ["DAPR_API_TOKEN"] = previous
            if broker is not None:
                broker.kill()  # last, as `tickler dev` stops it

    return fixture
