"""the outbox of task, sharing and comment events

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

from tm_common.outbox import create_outbox_table, drop_outbox_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_table(op, "tasks")


def downgrade() -> None:
    drop_outbox_table(op)
