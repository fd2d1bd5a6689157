"""Alembic environment: runs migrations synchronously over psycopg."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from store.database import sync_url
from store.tables import metadata

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=sync_url(config.attributes.get("url") or config.get_main_option("sqlalchemy.url")),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
