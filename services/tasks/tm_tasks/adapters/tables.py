"""Tables of the tasks schema. Unqualified: the connection's search_path selects the schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

metadata = MetaData()
# Priorities are stored as their rank (RANK), so that sorting by priority sorts low < medium < high.

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", String(1000)),
    Column("completed", Boolean, nullable=False, server_default=text("false")),
    # 1 low, 2 medium, 3 high: sorting by priority sorts by rank, not alphabetically.
    Column("priority", SmallInteger, nullable=False, server_default=text("2")),
    Column("due_date", Date),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True)),
    # Not here: due_soon_sent_for (migration 0008), read and written only by the due-soon
    # scheduler's hand-written SQL (adapters/reminder_store.py), so task reads never fetch it.
)

shares = Table(
    "shares",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("task_id", Integer, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("shared_with_user_id", Integer, nullable=False),
    Column("shared_with_username", String(50), nullable=False),
    # 1 view, 2 edit: the values of domain.access.Permission.
    Column("permission", SmallInteger, nullable=False),
    Column("shared_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("task_id", Integer, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("content", String(1000), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True)),
)

# Bumped in the same transaction as every write to a user's tasks: the stats cache entry of
# (user, version) can never be stale, whatever happened to Redis in between.
stats_versions = Table(
    "stats_versions",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)
