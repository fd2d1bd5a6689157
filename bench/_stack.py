"""The whole stack for the end-to-end benchmarks: a fresh migrated database (embedded, or
on DATABASE_URL's server), the dev sidecar and the app, as `make dev` runs them."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine  # noqa: E402
from store.database import migrate, plain_url  # noqa: E402
from store.embedded_pg import ensure_database, start_embedded  # noqa: E402
from tests.harness import DaprPair  # noqa: E402

__all__ = ["SECRET", "machine", "start_stack"]

SECRET = "bench-secret-0123456789abcdefghijklmnop"


def start_stack(name: str) -> tuple[DaprPair, str]:
    """Started pair and its database URL; the caller stops the pair."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    admin = os.environ.get("DATABASE_URL") or start_embedded(work / "pg")
    url = asyncio.run(ensure_database(admin, f"bench_{name}", fresh=True))
    migrate(url)
    pair = DaprPair(
        app_target="api.main:app_from_env",
        factory=True,
        resources_path=ROOT / "components" / "local",
        workdir=work,
        extra_env={
            "DATABASE_URL": url,
            "TICKLER_DAPR_DATABASE_URL": plain_url(url),
            "TICKLER_JWT_SECRET": SECRET,
            "TICKLER_ENV": "test",
        },
    )
    pair.start()
    return pair, url
