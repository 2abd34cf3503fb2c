"""Tables of the activity schema. Unqualified: the connection's search_path selects the schema."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Identity, Integer, MetaData, String, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# The audit log: one row per event, append-only.
entries = Table(
    "entries",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("user_id", Integer, nullable=False),  # who acted
    Column("username", String(50)),
    Column("action", String(20), nullable=False),
    Column("resource_type", String(20), nullable=False),
    Column("resource_id", Integer, nullable=False),
    Column("task_id", Integer),  # the task a task, comment or file entry belongs to (timelines)
    Column("details", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False),  # when it happened (event time)
    # When this service learnt of it (the difference is the event's lag).
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Who may read a task's timeline, as the events tell it: the owner, until the delete...
task_owners = Table(
    "task_owners",
    metadata,
    Column("task_id", Integer, primary_key=True),
    Column("owner_user_id", Integer, nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)

# ...and those it is shared with. A row per (task, user), last event wins by event time, so that
# a share and its revocation applied out of order still end as they happened.
task_viewers = Table(
    "task_viewers",
    metadata,
    Column("task_id", Integer, primary_key=True),
    Column("user_id", Integer, primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("permission", Text, nullable=False),
)
