"""tasks

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(1000)),
        sa.Column("completed", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("priority", sa.SmallInteger, nullable=False, server_default=sa.text("2")),
        sa.Column("due_date", sa.Date),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("priority BETWEEN 1 AND 3", name="tasks_priority_rank"),
    )
    # Every list is one user's: (user_id, <sort column>) serves filter + order + limit.
    op.create_index("tasks_user_id", "tasks", ["user_id", "id"])
    op.create_index("tasks_user_due_date", "tasks", ["user_id", "due_date"])
    op.create_index("tasks_user_created_at", "tasks", ["user_id", "created_at"])
    # ALL-of-these-tags filter (tags @> ARRAY[...]).
    op.create_index("tasks_tags", "tasks", ["tags"], postgresql_using="gin")
    # Case-insensitive substring search (ILIKE '%...%') on title and description: trigrams.
    # pg_trgm lives in the shared `extensions` schema (created by the database bootstrap).
    op.execute("CREATE INDEX tasks_title_trgm ON tasks USING gin (title extensions.gin_trgm_ops)")
    op.execute("CREATE INDEX tasks_description_trgm ON tasks USING gin (description extensions.gin_trgm_ops)")


def downgrade() -> None:
    op.drop_table("tasks")
