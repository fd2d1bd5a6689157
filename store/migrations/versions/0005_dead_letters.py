"""dead letters: events the pub/sub gave up delivering, kept for an operator; and the
outbox's redrive topic, which sends a redriven event to the topic that dead-lettered it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("settled_by", sa.Text(), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_dead_letters_first_seen", "dead_letters", ["first_seen", "id"])
    op.create_index(
        "ix_dead_letters_state_first_seen", "dead_letters", ["state", "first_seen", "id"]
    )
    op.add_column("outbox", sa.Column("redrive_topic", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "redrive_topic")
    op.drop_index("ix_dead_letters_state_first_seen", table_name="dead_letters")
    op.drop_index("ix_dead_letters_first_seen", table_name="dead_letters")
    op.drop_table("dead_letters")
