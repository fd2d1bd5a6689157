"""All configuration in one place, read from the environment (prefix TICKLER_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "tickler-dev-secret-not-for-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKLER_", extra="ignore")

    env: Literal["local", "test", "production"] = "local"
    # Bearer tokens (api.auth). An identity provider's (OIDC: RS256/ES256 against its JWKS,
    # `iss` and `aud` checked, the user id from oidc_user_claim) and our own HS256 ones,
    # signed with jwt_secret, for development; production takes HS256 tokens only when
    # TICKLER_JWT_SECRET is set explicitly.
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    oidc_jwks_url: str | None = None
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_user_claim: str = "sub"
    oidc_jwks_refetch_s: float = Field(60.0, ge=0)
    # where clients reach the app (https://tickler.example.com), for the protected-resource
    # metadata (RFC 9728) and the 401s that point to it; else the request's own base URL
    public_url: str | None = None
    # Per user, HTTP and MCP alike: a token bucket refilled at rate_limit_per_s up to
    # rate_limit_burst requests (api.rate_limit); 0 turns it off. Per replica: N replicas
    # let a user through N times as fast.
    rate_limit_per_s: float = Field(10.0, ge=0)
    rate_limit_burst: int = Field(100, ge=1)
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "TICKLER_DATABASE_URL")
    )
    data_dir: Path = Path(".tickler")
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_000_000
    db_pool_size: int = 40
    # Webhooks may reach loopback and private networks: for local development and tests
    # only (see service.webhook_targets); `tickler dev` turns it on.
    webhook_private_targets: bool = False
    # how often each replica prunes published events, consumers' processed events, old
    # idempotency keys and settled webhook deliveries (service.retention)
    housekeeping_interval_s: float = Field(3600.0, gt=0)
    # how often one replica asks every user with pending reminders to re-register their
    # actor reminder, healing a Scheduler that lost it (actors.reconcile), how many calls
    # it keeps in flight, and how long a fired reminder that could not be recorded waits
    # before its next try
    reminder_reconcile_interval_s: float = Field(300.0, gt=0)
    reminder_reconcile_concurrency: int = Field(32, gt=0)
    reminder_retry_delay_s: float = Field(5.0, gt=0)
    # how often each replica settles the saga runs (the dashboard's read model) that have
    # been live and quiet for saga_run_quiet_s, from the workflow runtime's state
    # (workflows.run_reconcile)
    saga_run_reconcile_interval_s: float = Field(30.0, gt=0)
    saga_run_quiet_s: float = Field(60.0, gt=0)
    # Prometheus metrics, on a port of their own (never the API's); 0 serves none. The
    # chart binds 0.0.0.0, for the scraper; the gauges of what waits (outbox, consumers'
    # lag) are sampled every metrics_sample_interval_s (api.metrics_sampler)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_sample_interval_s: float = Field(15.0, gt=0)
    # Logs (telemetry.logs): JSON lines, or `human` (what `tickler dev` sets); an access-log
    # line per request unless access_log is off. Traces go over OTLP when the standard
    # OTEL_EXPORTER_OTLP_ENDPOINT is set (telemetry.tracing reads the OTEL_* variables).
    log_format: Literal["json", "human"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True
    # Set by daprd (and our dev sidecar) in the app's environment. Without it the app runs
    # alone: no actors, workflows or pub/sub, and completion runs in-process.
    dapr_http_port: int | None = Field(None, validation_alias="DAPR_HTTP_PORT")
    dapr_grpc_port: int | None = Field(None, validation_alias="DAPR_GRPC_PORT")
    pubsub_name: str = "pubsub"
    # Dapr sends it as `dapr-api-token` on every call to the app; when set, the callback
    # routes (actors, subscriptions) refuse calls without it. Required in production: without
    # it anyone who reaches the app's port can call actor methods and forge events.
    app_api_token: SecretStr | None = Field(None, validation_alias="APP_API_TOKEN")
    # Who is an operator (the /v1/ops routes and the /ops pages): a token whose
    # `ops_roles_claim` claim, a list of strings, holds `ops_role`
    ops_roles_claim: str = "roles"
    ops_role: str = "operator"
    # Tests only: a file holding an offset in seconds added to the app's clock, which the dev
    # sidecar's --dev-clock-file reads too, so a test moves time forward instead of waiting
    # (api.dev_clock).
    dev_clock_file: Path | None = None

    @property
    def dapr_enabled(self) -> bool:
        return self.dapr_http_port is not None

    @property
    def hs256_secret(self) -> str | None:
        """The HS256 secret, unless production runs on the development default."""
        secret = self.jwt_secret.get_secret_value()
        return None if self.env == "production" and secret == DEV_SECRET else secret

    @model_validator(mode="after")
    def no_default_secret_in_production(self) -> Self:
        oidc = (self.oidc_jwks_url, self.oidc_issuer, self.oidc_audience)
        if any(oidc) and not all(oidc):
            raise ValueError(
                "OIDC needs all of TICKLER_OIDC_JWKS_URL, TICKLER_OIDC_ISSUER and "
                "TICKLER_OIDC_AUDIENCE: without issuer and audience any token the provider "
                "signs would do"
            )
        if self.env == "production":
            if self.hs256_secret is None and not self.oidc_jwks_url:
                raise ValueError(
                    "set TICKLER_OIDC_JWKS_URL (with its issuer and audience) or "
                    "TICKLER_JWT_SECRET: the dev secret is refused in production"
                )
            if not self.database_url:
                raise ValueError("set DATABASE_URL: production has no embedded database")
            if self.dev_clock_file is not None:
                raise ValueError(
                    "TICKLER_DEV_CLOCK_FILE is for tests: production runs on real time"
                )
            if self.app_api_token is None or not self.app_api_token.get_secret_value():
                raise ValueError(
                    "set APP_API_TOKEN: production refuses unauthenticated calls from the "
                    "sidecar's side (actor methods, /events/*)"
                )
        return self
