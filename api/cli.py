"""The `tickler` command: dev, serve, migrate, token, sidecar, mcp."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def resolve_database(settings: Settings) -> str:
    """DATABASE_URL, or the embedded server under the data dir with a `tickler` database."""
    if settings.database_url:
        return settings.database_url
    if settings.env == "production":
        raise SystemExit("DATABASE_URL is required in production")
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
    from api.auth import issue_token

    print(issue_token(settings.jwt_secret.get_secret_value(), args.user))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.main import create_app
    from store.database import migrate

    url = resolve_database(settings)
    if args.migrate:
        migrate(url)
    settings = settings.model_copy(update={"database_url": url})
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_sidecar(args: argparse.Namespace, settings: Settings) -> int:
    from sidecar.cli import main as sidecar_main

    return sidecar_main(args.rest)


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    from api.mcp_stdio import run_stdio

    return run_stdio(settings, resolve_database(settings))


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    """Embedded PostgreSQL + dev sidecar + app, supervised; Ctrl-C stops all three."""
    from api.auth import issue_token
    from store.database import migrate, plain_url

    url = resolve_database(settings)
    migrate(url)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        TICKLER_DAPR_DATABASE_URL=plain_url(url),
        DAPR_HTTP_PORT=str(args.dapr_http_port),
        DAPR_GRPC_PORT=str(args.dapr_grpc_port),
        DAPR_RUNTIME_HOST="127.0.0.1",
    )
    # a developer's webhook receiver usually runs on this machine
    env.setdefault("TICKLER_WEBHOOK_PRIVATE_TARGETS", "true")
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
            str(ROOT / "components" / "local"),
        ],
        env=env,
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
        ],
        env=env,
        cwd=ROOT,
    )
    token = issue_token(settings.jwt_secret.get_secret_value(), args.user)
    base = f"http://{args.host}:{args.port}"
    print(
        f"\nTickler is starting:\n"
        f"  API      {base}/v1/tasks\n  Docs     {base}/docs\n  MCP      {base}/mcp\n"
        f"  Sidecar  http://127.0.0.1:{args.dapr_http_port} (gRPC {args.dapr_grpc_port})\n"
        f"  Data     {settings.data_dir.resolve()}\n\n"
        f"Dev token for user '{args.user}':\n  {token}\n\n"
        f"  curl -H 'Authorization: Bearer {token[:16]}...' {base}/v1/tasks\n",
        flush=True,
    )
    children = [app, sidecar]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(c.poll() is None for c in children):
        time.sleep(0.2)  # a supervisor loop: waiting on signals or child exits
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
    print("stopped app, sidecar and PostgreSQL")
    return 0 if stopping else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tickler", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run PostgreSQL, the dev sidecar and the app")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--dapr-http-port", type=int, default=3500)
    dev.add_argument("--dapr-grpc-port", type=int, default=50001)
    dev.add_argument("--user", default="dev", help="user id of the printed dev token")
    dev.set_defaults(func=cmd_dev)

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
