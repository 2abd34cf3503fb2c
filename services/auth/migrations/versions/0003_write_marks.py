"""each outbox event's actor and stream entry id (read-your-writes; expand only)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from alembic import op

from tm_common.outbox import add_write_marks, drop_write_marks

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_write_marks(op)


def downgrade() -> None:
    drop_write_marks(op)
