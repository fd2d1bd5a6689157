"""The trace context an outbox event was written in, which the relay carries into its
CloudEvent (telemetry.tracing).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("trace_parent", sa.Text()))


def downgrade() -> None:
    op.drop_column("outbox", "trace_parent")
