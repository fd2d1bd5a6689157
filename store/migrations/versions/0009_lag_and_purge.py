"""An index on the outbox's publication time (the consumers' lag, the retention prune), and
when an operator purged a saga run's instance.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_published_at",
        "outbox",
        ["published_at"],
        postgresql_where=sa.text("published_at IS NOT NULL"),
    )
    op.add_column("saga_runs", sa.Column("purged_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("saga_runs", "purged_at")
    op.drop_index("ix_outbox_published_at", table_name="outbox")
