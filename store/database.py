"""Engines and migrations. Everything that turns a DATABASE_URL into a connection."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _with_driver(url: str, driver: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def async_url(url: str) -> str:
    return _with_driver(url, "asyncpg")


def sync_url(url: str) -> str:
    return _with_driver(url, "psycopg")


def plain_url(url: str) -> str:
    """The libpq form (postgresql://...), for asyncpg and the Dapr components."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 40) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        # a pool as large as the expected concurrency: overflow connections are closed after
        # use, and every reconnect repeats asyncpg's type introspection and statement prep
        pool_size=pool_size,
        max_overflow=pool_size // 4,
        pool_pre_ping=False,
        connect_args={
            # asyncpg's prepared-statement cache makes repeated queries cheap
            "statement_cache_size": 500,
            # SSD-era costs: the planner otherwise prefers hash joins over index lookups for
            # a page's tags and reminders (3.4 ms -> 1.0 ms for a 50-task page)
            # a custom plan per call (about 1 ms of planning): list filters bind values whose
            # selectivity differs 100-fold (a tag on 28% of a user's tasks or on 1%), and one
            # generic plan is 15x slower for some of them
            "server_settings": {"random_page_cost": "1.1", "plan_cache_mode": "force_custom_plan"},
        },
    )


def alembic_config(url: str):  # -> alembic.config.Config
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


def migrate(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
