"""the outbox of user events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

from tm_common.outbox import create_outbox_table, drop_outbox_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_table(op, "auth")


def downgrade() -> None:
    drop_outbox_table(op)
