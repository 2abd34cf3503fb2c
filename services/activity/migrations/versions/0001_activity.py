"""the audit log, who may read each task's timeline, and processed event ids

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from tm_common.consumer import create_processed_events_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("username", sa.String(50)),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("resource_type", sa.String(20), nullable=False),
        sa.Column("resource_id", sa.Integer, nullable=False),
        sa.Column("task_id", sa.Integer),
        sa.Column("details", JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    # The caller's history and a task's timeline, newest first (event time, then id).
    op.create_index("entries_user", "entries", ["user_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("entries_task", "entries", ["task_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_table(
        "task_owners",
        sa.Column("task_id", sa.Integer, primary_key=True),
        sa.Column("owner_user_id", sa.Integer, nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "task_viewers",
        sa.Column("task_id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("permission", sa.Text, nullable=False),
    )
    create_processed_events_table(op)


def downgrade() -> None:
    for table in ("processed_events", "task_viewers", "task_owners", "entries"):
        op.drop_table(table)
