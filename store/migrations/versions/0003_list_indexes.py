"""List indexes in sort order: status (and priority) then the due-date sort key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE_KEY = sa.literal_column("coalesce(due_at, 'infinity'::timestamptz)")


def upgrade() -> None:
    op.drop_index("ix_tasks_user_status_due", table_name="tasks")
    op.create_index(
        "ix_tasks_user_status_due", "tasks", ["user_id", "status", DUE_KEY, "id"], unique=False
    )
    op.create_index(
        "ix_tasks_user_status_priority_due",
        "tasks",
        ["user_id", "status", "priority", DUE_KEY, "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_user_status_priority_due", table_name="tasks")
    op.drop_index("ix_tasks_user_status_due", table_name="tasks")
    op.create_index(
        "ix_tasks_user_status_due", "tasks", ["user_id", "status", "due_at"], unique=False
    )
