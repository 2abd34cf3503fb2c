"""sort indexes: every sortable column gets (user_id, column, id), so a sorted page of a user with
100k tasks reads ~20 index entries instead of sorting all their rows

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("title", "priority", "completed", "created_at", "due_date")


def upgrade() -> None:
    op.drop_index("tasks_user_due_date", "tasks")
    op.drop_index("tasks_user_created_at", "tasks")
    for column in COLUMNS:
        op.create_index(f"tasks_user_{column}", "tasks", ["user_id", column, "id"])
    # Tasks without a due date come last in both directions; a backward scan of the index above
    # would put them first when descending.
    op.execute("CREATE INDEX tasks_user_due_date_desc ON tasks (user_id, due_date DESC NULLS LAST, id DESC)")


def downgrade() -> None:
    op.drop_index("tasks_user_due_date_desc", "tasks")
    for column in COLUMNS:
        op.drop_index(f"tasks_user_{column}", "tasks")
    op.create_index("tasks_user_due_date", "tasks", ["user_id", "due_date"])
    op.create_index("tasks_user_created_at", "tasks", ["user_id", "created_at"])
