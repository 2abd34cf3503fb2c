"""due-soon reminders: the due date each task's reminder was last sent for, and an index of the
tasks still owed one (expand only)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Only open tasks whose reminder is not yet sent for their current due date: the scheduler's scan
# reads these few entries, not every task with a due date. Built CONCURRENTLY (outside the
# migration's transaction) so that writes to tasks go on meanwhile.
INDEX = (
    "INDEX CONCURRENTLY IF NOT EXISTS tasks_due_soon_pending ON tasks (due_date, id) "
    "WHERE NOT completed AND due_date IS NOT NULL AND due_soon_sent_for IS DISTINCT FROM due_date"
)


def upgrade() -> None:
    # NULL: never sent. A change of due_date makes it differ again, which re-arms the reminder.
    op.add_column("tasks", sa.Column("due_soon_sent_for", sa.Date))
    with op.get_context().autocommit_block():
        op.execute("CREATE " + INDEX)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS tasks_due_soon_pending")
    op.drop_column("tasks", "due_soon_sent_for")
