"""Settings refuse to run production unauthenticated: without APP_API_TOKEN anyone who can
reach the app's port could call actor methods and post forged events (issue 9, §5)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import Settings

PRODUCTION = {
    "TICKLER_ENV": "production",
    "TICKLER_JWT_SECRET": "a-production-secret-0123456789abcdef",
    "DATABASE_URL": "postgresql://tickler@db/tickler",
}


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("APP_API_TOKEN", "DAPR_API_TOKEN", "TICKLER_APP_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_production_refuses_to_start_without_app_api_token(production_env) -> None:
    with pytest.raises(ValidationError, match="APP_API_TOKEN"):
        Settings()


def test_production_refuses_an_empty_app_api_token(production_env) -> None:
    production_env.setenv("APP_API_TOKEN", "")
    with pytest.raises(ValidationError, match="APP_API_TOKEN"):
        Settings()


def test_production_starts_with_app_api_token(production_env) -> None:
    production_env.setenv("APP_API_TOKEN", "from-the-chart-secret")
    assert Settings().app_api_token.get_secret_value() == "from-the-chart-secret"


def test_the_app_factory_refuses_production_without_app_api_token(production_env) -> None:
    from api.main import app_from_env

    with pytest.raises(ValidationError, match="APP_API_TOKEN"):
        app_from_env()


def test_local_development_runs_without_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_API_TOKEN", raising=False)
    monkeypatch.setenv("TICKLER_ENV", "local")
    assert Settings().app_api_token is None


def test_production_refuses_a_dev_clock(production_env, tmp_path) -> None:
    production_env.setenv("APP_API_TOKEN", "from-the-chart-secret")
    production_env.setenv("TICKLER_DEV_CLOCK_FILE", str(tmp_path / "clock"))
    with pytest.raises(ValidationError, match="TICKLER_DEV_CLOCK_FILE"):
        Settings()


async def test_the_operator_role_and_its_claim_are_configurable(monkeypatch, capsys) -> None:
    import jwt

    from api.auth import Verifier
    from api.cli import main

    monkeypatch.setenv("TICKLER_OPS_ROLES_CLAIM", "groups")
    monkeypatch.setenv("TICKLER_OPS_ROLE", "ops")
    monkeypatch.setenv("TICKLER_JWT_SECRET", "a-test-secret-0123456789abcdefghijkl")
    assert main(["token", "--user", "olga", "--operator", "--role", "auditor"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["groups"] == ["auditor", "ops"] and "roles" not in claims
    verifier = Verifier(hs256_secret="a-test-secret-0123456789abcdefghijkl", roles_claim="groups")
    caller = await verifier.caller(token)
    assert caller.roles == {"auditor", "ops"}


OIDC = {
    "TICKLER_OIDC_JWKS_URL": "https://login.example.test/keys",
    "TICKLER_OIDC_ISSUER": "https://login.example.test/",
    "TICKLER_OIDC_AUDIENCE": "https://tickler.example.test",
}


def test_production_needs_oidc_or_an_explicit_hs256_secret(production_env) -> None:
    production_env.setenv("APP_API_TOKEN", "from-the-chart-secret")
    production_env.delenv("TICKLER_JWT_SECRET")
    with pytest.raises(ValidationError, match="TICKLER_OIDC_JWKS_URL"):
        Settings()
    for name, value in OIDC.items():
        production_env.setenv(name, value)
    assert Settings().hs256_secret is None  # OIDC alone: the dev secret signs nothing here
    production_env.setenv("TICKLER_JWT_SECRET", "an-explicit-production-secret-0123456789")
    assert Settings().hs256_secret == "an-explicit-production-secret-0123456789"


async def test_production_on_oidc_refuses_tokens_signed_with_the_dev_secret(
    production_env,
) -> None:
    from api.auth import AuthError, issue_token, token_verifier
    from api.settings import DEV_SECRET

    production_env.setenv("APP_API_TOKEN", "from-the-chart-secret")
    production_env.delenv("TICKLER_JWT_SECRET")
    for name, value in OIDC.items():
        production_env.setenv(name, value)
    with pytest.raises(AuthError, match="HS256"):
        await token_verifier(Settings()).caller(issue_token(DEV_SECRET, "mallory"))


def test_oidc_without_issuer_or_audience_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("TICKLER_OIDC_JWKS_URL", OIDC["TICKLER_OIDC_JWKS_URL"])
    with pytest.raises(ValidationError, match="ISSUER"):
        Settings()
