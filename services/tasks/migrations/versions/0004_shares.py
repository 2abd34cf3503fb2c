"""shares: a task shared with another user, with VIEW (1) or EDIT (2) permission

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("task_id", sa.Integer, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("shared_with_user_id", sa.Integer, nullable=False),
        # Usernames never change, so the share keeps the one it was made with.
        sa.Column("shared_with_username", sa.String(50), nullable=False),
        sa.Column("permission", sa.SmallInteger, nullable=False),
        sa.Column("shared_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("permission IN (1, 2)", name="shares_permission_view_or_edit"),
        sa.UniqueConstraint("task_id", "shared_with_user_id", name="shares_task_user"),
    )
    op.create_index("shares_shared_with", "shares", ["shared_with_user_id", "task_id"])


def downgrade() -> None:
    op.drop_table("shares")
