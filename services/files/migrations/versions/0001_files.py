"""files, pending presigned uploads, blob deletions, deleted tasks, the outbox, processed event ids

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from tm_common.consumer import create_processed_events_table
from tm_common.outbox import create_outbox_table, drop_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("original_filename", sa.String(255), nullable=False),
        sa.Column("file_size", sa.Integer, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("blob_key", sa.Text, nullable=False, unique=True),
        sa.Column("uploaded_by_user_id", sa.Integer, nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("upload_id", sa.Uuid, unique=True),
    )
    op.create_index("files_task", "files", ["task_id", "id"])
    op.create_table(
        "pending_uploads",
        sa.Column("upload_id", sa.Uuid, primary_key=True),
        sa.Column("blob_key", sa.Text, nullable=False, unique=True),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("original_filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("declared_size", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "blob_deletions",
        sa.Column("blob_key", sa.Text, primary_key=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "deleted_tasks",
        sa.Column("task_id", sa.Integer, primary_key=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    create_outbox_table(op, "files")
    create_processed_events_table(op)


def downgrade() -> None:
    op.drop_table("processed_events")
    drop_outbox_table(op)
    for table in ("deleted_tasks", "blob_deletions", "pending_uploads", "files"):
        op.drop_table(table)
