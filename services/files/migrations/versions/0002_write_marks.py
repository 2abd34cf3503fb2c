"""each outbox event's actor and stream entry id (read-your-writes; expand only)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from alembic import op

from tm_common.outbox import add_write_marks, drop_write_marks

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_write_marks(op)


def downgrade() -> None:
    drop_write_marks(op)
