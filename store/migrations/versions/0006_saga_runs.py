"""saga runs: the operators' read model of the complete_occurrence saga, one row per attempt

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saga_runs",
        sa.Column("instance_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.UUID(), nullable=False),
        sa.Column("series_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("retry_of", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("step", sa.Text(), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("failure_step", sa.Text(), nullable=True),
        sa.Column("next_task_id", sa.UUID(), nullable=True),
        sa.PrimaryKeyConstraint("instance_id"),
    )
    op.create_index("ix_saga_runs_started", "saga_runs", ["started_at", "instance_id"])
    op.create_index(
        "ix_saga_runs_status_started", "saga_runs", ["status", "started_at", "instance_id"]
    )
    op.create_index(
        "ix_saga_runs_user_started", "saga_runs", ["user_id", "started_at", "instance_id"]
    )
    op.create_index("ix_saga_runs_task", "saga_runs", ["task_id"])
    op.create_index("ix_saga_runs_series", "saga_runs", ["series_id"])
    op.create_index("ix_saga_runs_updated", "saga_runs", ["updated_at", "instance_id"])
    op.create_index(
        "ix_saga_runs_live_updated",
        "saga_runs",
        ["updated_at"],
        postgresql_where=sa.text("status IN ('pending', 'running', 'suspended')"),
    )


def downgrade() -> None:
    for index in (
        "ix_saga_runs_live_updated",
        "ix_saga_runs_updated",
        "ix_saga_runs_series",
        "ix_saga_runs_task",
        "ix_saga_runs_user_started",
        "ix_saga_runs_status_started",
        "ix_saga_runs_started",
    ):
        op.drop_index(index, table_name="saga_runs")
    op.drop_table("saga_runs")
