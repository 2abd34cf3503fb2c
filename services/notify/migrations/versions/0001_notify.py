"""users, preferences, verification codes, the delivery queue, the local delivery log, and
processed event ids

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from tm_common.consumer import create_processed_events_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    )
    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("email_verified", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("email_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("task_shared_with_me", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("task_completed", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("comment_on_my_task", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("task_due_soon", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "verification_codes",
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("code_digest", sa.LargeBinary, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("subscription_ref", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("claimed_by", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("provider_message_id", sa.Text),
        sa.UniqueConstraint("event_id", "user_id", name="deliveries_event_user"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="deliveries_status"),
    )
    # What the sender loop claims: pending rows that are due, oldest due first.
    op.execute("CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending'")
    op.create_index("deliveries_user", "deliveries", ["user_id", "id"])
    # Wake the sender loop on commit (one NOTIFY per statement; folded per transaction).
    op.execute(
        """
        CREATE FUNCTION deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify(TG_TABLE_SCHEMA || '_deliveries', ''); RETURN NULL; END $$
        """
    )
    op.execute(
        "CREATE TRIGGER deliveries_notify AFTER INSERT ON deliveries "
        "FOR EACH STATEMENT EXECUTE FUNCTION deliveries_notify()"
    )
    op.create_table(
        "mail_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("delivery_id", sa.BigInteger, nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    )
    op.create_index("mail_log_user", "mail_log", ["user_id", "id"])
    create_processed_events_table(op)


def downgrade() -> None:
    for table in ("processed_events", "mail_log", "deliveries", "verification_codes", "preferences", "users"):
        op.drop_table(table)
    op.execute("DROP FUNCTION deliveries_notify()")
