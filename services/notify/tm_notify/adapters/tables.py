"""Tables of the notify schema. Unqualified: the connection's search_path selects the schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# Our copy of each account, from user.registered (or, before that event arrives, from the auth
# service's directory).
users = Table(
    "users",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("username", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

preferences = Table(
    "preferences",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("email_verified", Boolean, nullable=False),
    Column("email_enabled", Boolean, nullable=False),
    Column("task_shared_with_me", Boolean, nullable=False),
    Column("task_completed", Boolean, nullable=False),
    Column("comment_on_my_task", Boolean, nullable=False),
    Column("task_due_soon", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True)),  # NULL until the first change
)

# The one live verification code of a user (a new subscribe replaces it): its HMAC only.
verification_codes = Table(
    "verification_codes",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("code_digest", LargeBinary, nullable=False),
    Column("email", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),  # wrong guesses
    Column("used_at", DateTime(timezone=True)),
)

# Emails to send, one per (event, recipient): the queue of the sender loop and its record.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False),  # the triggering event (a verification: the code's)
    Column("user_id", Integer, nullable=False),
    Column("kind", Text, nullable=False),  # the event type, or "verification"
    Column("email", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("subscription_ref", Text),  # an SNS subscription the mail must wait for
    Column("status", Text, nullable=False, server_default="pending"),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("claimed_by", Text),  # the sender instance holding the lease, while it sends
    Column("last_error", Text),
    Column("expires_at", DateTime(timezone=True)),  # give up after this (verification codes)
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    Column("provider_message_id", Text),
    Column("trace_context", JSONB),  # the trace that queued it (tm_common.tracing)
    UniqueConstraint("event_id", "user_id", name="deliveries_event_user"),
)

# The local delivery log: what the local sender "sent". The operator reads it (and the log
# output); it is never readable through the API.
mail_log = Table(
    "mail_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("delivery_id", BigInteger, nullable=False, unique=True),  # at most once per delivery
    Column("user_id", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("logged_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
