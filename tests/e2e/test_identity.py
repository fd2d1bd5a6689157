"""Real identity: OIDC access tokens (RS256 and ES256) checked against a JWKS that a test
server serves on loopback, scopes, the protected-resource metadata (RFC 9728) and its
challenges, over HTTP and MCP; and per-user rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from api.auth import READ, issue_token
from api.main import create_app
from api.settings import Settings
from store.database import migrate
from tests.clocks import FrozenClock
from tests.e2e.conftest import running
from tests.e2e.jwks_server import (
    AUDIENCE,
    ISSUER,
    JwksServer,
    Key,
    claims,
    hs256_with_public_key,
    sign,
)

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
SECRET = "test-secret-for-the-identity-suite-0123456789"
RSA, EC = Key.rsa("rsa-1"), Key.ec("ec-1")


@pytest.fixture(scope="module")
def provider() -> AsyncIterator[JwksServer]:
    with JwksServer([RSA, EC]) as server:
        yield server


@pytest.fixture(scope="module")
async def app(make_database, provider: JwksServer) -> AsyncIterator[Any]:
    url = await make_database("identity")
    await asyncio.to_thread(migrate, url)
    settings = Settings(
        env="test",
        database_url=url,
        jwt_secret=SECRET,
        oidc_jwks_url=provider.url,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_refetch_s=0,  # every unknown kid refetches: the rotation test needs it
        public_url="https://tickler.example.test",
        rate_limit_per_s=0,
    )
    application = create_app(settings, FrozenClock(NOW))
    async with running(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tickler") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("key", [RSA, EC], ids=["RS256", "ES256"])
async def test_a_providers_token_reads_and_writes_as_its_subject(client, key: Key) -> None:
    token = sign(key, claims(sub=f"subject-{key.alg}"))
    created = await client.post("/v1/tasks", json={"title": "from oidc"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    listed = await client.get("/v1/tasks", headers=bearer(token))
    assert [t["id"] for t in listed.json()["items"]] == [created.json()["id"]]


@pytest.mark.parametrize(
    ("case", "token", "detail"),
    [
        ("expired", lambda: sign(RSA, claims(exp=1_700_000_000, iat=1_699_999_000)), "expired"),
        ("wrong issuer", lambda: sign(RSA, claims(iss="https://evil.test/")), "issuer"),
        ("wrong audience", lambda: sign(RSA, claims(aud="https://other.test")), "audience"),
        ("no audience", lambda: sign(RSA, claims(aud=None)), "aud"),
        ("unknown kid", lambda: sign(RSA, claims(), kid="nobody"), "unknown signing key"),
        ("alg confusion", lambda: hs256_with_public_key(RSA, claims()), "Signature"),
        ("none alg", lambda: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "'none'"),
    ],
)
async def test_a_bad_token_is_401_with_the_resource_metadata(client, case, token, detail) -> None:
    r = await client.get("/v1/tasks", headers=bearer(token()))
    assert r.status_code == 401, (case, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert detail.lower() in r.json()["detail"].lower(), (case, r.json())
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert (
        'resource_metadata="https://tickler.example.test/.well-known/oauth-protected-resource"'
        in challenge
    )


async def test_a_rotated_key_is_fetched_and_the_retired_one_refused(client, provider) -> None:
    before = provider.fetches
    rotated = Key.rsa("rsa-2")
    provider.rotate([rotated, EC])
    try:
        r = await client.get("/v1/tasks", headers=bearer(sign(rotated, claims())))
        assert r.status_code == 200, r.text
        assert provider.fetches == before + 1  # one fetch for the new kid, then cached
        again = await client.get("/v1/tasks", headers=bearer(sign(rotated, claims())))
        assert again.status_code == 200 and provider.fetches == before + 1
        retired = await client.get("/v1/tasks", headers=bearer(sign(RSA, claims())))
        assert retired.status_code == 401
    finally:
        provider.rotate([RSA, EC])


async def test_a_read_only_token_reads_and_gets_403_on_every_change(client) -> None:
    writer = bearer(sign(RSA, claims(sub="scoped")))
    task = (await client.post("/v1/tasks", json={"title": "mine"}, headers=writer)).json()
    reader = bearer(sign(RSA, claims(sub="scoped", scope=READ)))
    assert (await client.get(f"/v1/tasks/{task['id']}", headers=reader)).status_code == 200
    changes = [
        client.post("/v1/tasks", json={"title": "no"}, headers=reader),
        client.patch(f"/v1/tasks/{task['id']}", json={"title": "no"}, headers=reader),
        client.post(f"/v1/tasks/{task['id']}/complete", headers=reader),
        client.delete(f"/v1/tasks/{task['id']}", headers=reader),
    ]
    for r in await asyncio.gather(*changes):
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
        assert 'scope="tasks:write"' in r.headers["www-authenticate"]
    after = (await client.get(f"/v1/tasks/{task['id']}", headers=reader)).json()
    assert after["title"] == "mine" and after["status"] == task["status"]
    unscoped = bearer(sign(RSA, claims(sub="scoped", scope=None)))
    assert (await client.get("/v1/tasks", headers=unscoped)).status_code == 403


async def test_the_development_hs256_token_still_works_beside_oidc(client) -> None:
    r = await client.get("/v1/tasks", headers=bearer(issue_token(SECRET, "dev")))
    assert r.status_code == 200


async def test_the_protected_resource_metadata_names_the_issuer_and_scopes(client) -> None:
    for path, resource in [
        ("/.well-known/oauth-protected-resource", "https://tickler.example.test"),
        ("/.well-known/oauth-protected-resource/mcp", "https://tickler.example.test/mcp"),
    ]:
        document = (await client.get(path)).json()
        assert document["resource"] == resource
        assert document["authorization_servers"] == [ISSUER]
        assert document["scopes_supported"] == ["tasks:read", "tasks:write"]
        assert document["bearer_methods_supported"] == ["header"]


async def test_mcp_401_points_to_its_metadata(app) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tickler"
    ) as http:
        r = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401
    assert (
        'resource_metadata="https://tickler.example.test/.well-known/oauth-protected-resource/mcp"'
        in r.headers["www-authenticate"]
    )


async def test_a_read_only_agent_is_shown_only_reading_tools_and_refused_writes(app) -> None:
    async def tools_and_add(token: str) -> tuple[set[str], Any]:
        async with (
            httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=app),
                base_url="http://tickler",
                headers={"Authorization": f"Bearer {token}"},
            ) as http,
            streamable_http_client("http://tickler/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            listed = await session.list_tools()
            added = await session.call_tool("add_task", {"title": "agent's"})
            return {t.name for t in listed.tools}, added

    full, written = await tools_and_add(sign(EC, claims(sub="agent")))
    reading, refused = await tools_and_add(sign(EC, claims(sub="agent", scope=READ)))
    assert not written.is_error
    assert {"add_task", "complete_task", "delete_task"} <= full
    assert reading and reading < full
    assert not {"add_task", "update_task", "complete_task", "delete_task"} & reading
    assert {"get_task", "list_tasks", "search_tasks"} <= reading
    assert refused.is_error
    assert "tasks:write" in refused.content[0].text


async def test_rate_limits_answer_429_per_user(make_database) -> None:
    url = await make_database("ratelimit")
    await asyncio.to_thread(migrate, url)
    settings = Settings(
        env="test", database_url=url, jwt_secret=SECRET, rate_limit_per_s=0.01, rate_limit_burst=3
    )
    application = create_app(settings, FrozenClock(NOW))
    async with (
        running(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://tickler"
        ) as c,
    ):
        loop = bearer(issue_token(SECRET, "looping-agent"))
        answers = [(await c.get("/v1/tasks", headers=loop)).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        limited = await c.get("/v1/tasks", headers=loop)
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(limited.headers["retry-after"]) <= 100
        mcp = await c.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=loop)
        assert mcp.status_code == 429 and "retry-after" in mcp.headers
        other = bearer(issue_token(SECRET, "someone-else"))
        assert (await c.get("/v1/tasks", headers=other)).status_code == 200


async def test_an_identity_provider_that_is_down_is_503_not_401(make_database) -> None:
    from devstack.processes import free_port

    url = await make_database("idp-down")
    await asyncio.to_thread(migrate, url)
    settings = Settings(
        env="test",
        database_url=url,
        jwt_secret=SECRET,
        oidc_jwks_url=f"http://127.0.0.1:{free_port()}/jwks.json",  # nothing listens
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        rate_limit_per_s=0,
    )
    application = create_app(settings, FrozenClock(NOW))
    async with (
        running(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://tickler"
        ) as c,
    ):
        token = bearer(sign(RSA, claims()))
        r = await c.get("/v1/tasks", headers=token)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert int(r.headers["retry-after"]) > 0
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        mcp = await c.post("/mcp", json=ping, headers=token)
        assert mcp.status_code == 503 and "retry-after" in mcp.headers
