"""Tables of the auth schema. Unqualified: the connection's search_path selects the schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Identity, Index, Integer, MetaData, String, Table, Text, func

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("username", String(50), nullable=False),
    Column("email", String(100), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# Case-insensitive uniqueness: "Alice" and "alice" are the same account name.
Index("users_username_lower_key", func.lower(users.c.username), unique=True)
Index("users_email_lower_key", func.lower(users.c.email), unique=True)
