"""`python -m sidecar`: daprd's command line, for the flags the dev sidecar honours."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from sidecar import clock
from sidecar.runtime import Options, Runtime


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar", description="Development Dapr sidecar (loopback only)"
    )
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--app-port", type=int, required=True)
    parser.add_argument("--app-host", default="127.0.0.1")
    parser.add_argument("--app-protocol", choices=["http"], default="http")
    parser.add_argument("--dapr-http-port", type=int, default=3500)
    parser.add_argument("--dapr-grpc-port", type=int, default=50001)
    parser.add_argument(
        "--resources-path", "--components-path", type=Path, default=Path("components/local")
    )
    parser.add_argument(
        "--dev-clock-file",
        type=Path,
        default=None,
        help="dev only, no daprd flag: a file holding an offset in seconds that actor "
        "reminders and timers add to real time (sidecar/clock.py)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warn", "warning", "error"]
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    level = "warning" if args.log_level == "warn" else args.log_level
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per app call is noise
    clock.use_offset_file(args.dev_clock_file)
    options = Options(
        app_id=args.app_id,
        app_port=args.app_port,
        app_host=args.app_host,
        http_port=args.dapr_http_port,
        grpc_port=args.dapr_grpc_port,
        resources_path=args.resources_path,
    )
    asyncio.run(Runtime(options).run())
    return 0
