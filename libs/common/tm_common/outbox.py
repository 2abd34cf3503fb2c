"""The transactional outbox: events are rows written in the same transaction as the change they
describe, so an event exists if and only if its change committed. The relay (tm_common.relay)
publishes them to the producer's Redis stream.

Every producer's schema holds the same `outbox` table, created by `create_outbox_table` from its
own migration; an insert trigger NOTIFYs the relay on commit so it wakes without polling.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from taskmanager.events.v1.events_pb2 import EventEnvelope


def channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel of a schema's outbox."""
    return f"{schema}_outbox"


def _columns() -> list[Column[Any]]:
    return [
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("event_type", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # NULL until the relay has published the row; published rows are kept for a while (see
        # the relay) so that a window can be republished after losing stream data.
        Column("published_at", DateTime(timezone=True)),
    ]


outbox = Table("outbox", MetaData(), *_columns())


def create_outbox_table(op: Any, schema: str) -> None:
    """For a producer's migration: the table, the index of unpublished rows, the NOTIFY trigger."""
    op.create_table("outbox", *_columns())
    op.execute("CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL")
    op.execute("CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL")
    op.execute(
        f"""
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('{channel(schema)}', ''); RETURN NULL; END $$
        """
    )
    # Per statement: one NOTIFY per writing statement, and Postgres folds a transaction's
    # identical notifications into one, delivered at commit (never for a rollback).
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()"
    )


def drop_outbox_table(op: Any) -> None:
    op.drop_table("outbox")
    op.execute("DROP FUNCTION outbox_notify()")


def _row(event: EventEnvelope) -> dict[str, Any]:
    return {"event_id": event.event_id, "event_type": event.type, "payload": event.SerializeToString()}


async def add(conn: AsyncConnection, *events: EventEnvelope) -> None:
    """Write events in the caller's transaction (SQLAlchemy)."""
    if events:
        await conn.execute(outbox.insert(), [_row(event) for event in events])


# For writes on the psycopg fast path (Database.connection()).
INSERT_SQL = "INSERT INTO outbox (event_id, event_type, payload) VALUES (%s, %s, %s)"


def insert_params(event: EventEnvelope) -> tuple[str, str, bytes]:
    return event.event_id, event.type, event.SerializeToString()
