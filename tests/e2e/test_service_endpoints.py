"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

from tests.e2e.conftest import Api


async def test_healthz_and_readyz(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    r = await api.client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


async def test_openapi_lists_every_v1_route(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths["/v1/tasks"]) == {"get", "post"}
    assert set(paths["/v1/tasks/{task_id}"]) == {"get", "patch", "delete"}
    for path in ("complete", "skip"):
        assert "post" in paths[f"/v1/tasks/{{task_id}}/{path}"]
    assert "get" in paths["/v1/tasks/{task_id}/occurrences"]
    assert set(paths["/v1/tags/{name}"]) == {"patch", "delete"}
    assert (await api.client.get("/docs")).status_code == 200
