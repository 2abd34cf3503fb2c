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
    Integer,
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


def _mark_columns() -> list[Column[Any]]:
    """Added by `add_write_marks` (read-your-writes): who caused each event, and where the relay
    put it in the stream."""
    return [Column("actor_user_id", Integer), Column("stream_id", Text)]


outbox = Table("outbox", MetaData(), *_columns(), *_mark_columns())


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


def add_write_marks(op: Any, concurrently: bool = True) -> None:
    """For a producer's migration (expand only): each event's actor and stream entry id, and an
    index to find a user's latest event (tm_common.write_marks). The index is built CONCURRENTLY
    (outside the migration's transaction), so writes go on meanwhile."""
    for column in _mark_columns():
        op.add_column("outbox", column)
    index = (
        "INDEX {} IF NOT EXISTS outbox_by_actor ON outbox (actor_user_id, id) WHERE actor_user_id IS NOT NULL"
    )
    if not concurrently:  # a scratch schema of a test, in a transaction of its own
        op.execute("CREATE " + index.format(""))
        return
    with op.get_context().autocommit_block():
        op.execute("CREATE " + index.format("CONCURRENTLY"))


def drop_write_marks(op: Any) -> None:
    op.execute("DROP INDEX IF EXISTS outbox_by_actor")
    for column in reversed(_mark_columns()):
        op.drop_column("outbox", column.name)


def drop_outbox_table(op: Any) -> None:
    op.drop_table("outbox")
    op.execute("DROP FUNCTION outbox_notify()")


def _row(event: EventEnvelope) -> dict[str, Any]:
    return dict(
        zip(("event_id", "event_type", "payload", "actor_user_id"), insert_params(event), strict=True)
    )


async def add(conn: AsyncConnection, *events: EventEnvelope) -> None:
    """Write events in the caller's transaction (SQLAlchemy)."""
    if events:
        await conn.execute(outbox.insert(), [_row(event) for event in events])


# The columns an event fills, in the order of insert_params (for hand-written SQL).
INSERT_COLUMNS = "event_id, event_type, payload, actor_user_id"


def insert_params(event: EventEnvelope) -> tuple[str, str, bytes, int | None]:
    return event.event_id, event.type, event.SerializeToString(), event.actor_user_id or None
