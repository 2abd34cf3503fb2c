"""the trace context of the request or event each email was queued for (expand only)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # W3C traceparent/tracestate: the sender's span joins the trace that queued the email. NULL
    # for emails queued before, or outside a trace. A nullable column without a default: a
    # catalog change only, no rewrite of the queue.
    op.add_column("deliveries", sa.Column("trace_context", JSONB))


def downgrade() -> None:
    op.drop_column("deliveries", "trace_context")
