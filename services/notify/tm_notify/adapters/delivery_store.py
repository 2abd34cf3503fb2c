"""The delivery queue: one row per (event, recipient), claimed with a lease by the sender loop,
in a unit of work's transaction (SQLAlchemy Core); the wake-ups its insert trigger sends; and the
sampling of its size for the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_common import tracing
from tm_common.db import Database
from tm_common.loops import Listener, every, listening
from tm_notify import metrics
from tm_notify.adapters.tables import deliveries
from tm_notify.domain.deliveries import Delivery, NewDelivery

d = deliveries.c
REDACTED = "[the verification code was removed from this copy once the email was sent]"


def channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel an insert into the schema's deliveries wakes (the migration's trigger)."""
    return f"{schema}_deliveries"


class DeliveryWakeups:
    """A LISTEN connection of its own on the schema's deliveries channel: every commit that
    queued emails wakes the sender loop."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def listening(self) -> AbstractAsyncContextManager[Listener]:
        return listening(self._db.libpq_url, channel(self._db.schema), "notify-sender")


# Waiting emails through the partial index of pending rows. Sent and failed ones are kept for good,
# so only the recent ones are counted: the rows after the newest one created before the window
# (found by walking the primary key back from its end; ids follow creation), a range read of the
# primary key.
_QUEUE = """
SELECT waiting.queued, waiting.retrying, recent.sent, recent.failed
FROM (SELECT count(*) FILTER (WHERE attempts = 0) AS queued,
             count(*) FILTER (WHERE attempts > 0) AS retrying
      FROM deliveries WHERE status = 'pending') AS waiting,
     (SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
             count(*) FILTER (WHERE status = 'failed') AS failed
      FROM deliveries
      WHERE id > coalesce((SELECT id FROM deliveries
                           WHERE created_at < now() - make_interval(secs => %s)
                           ORDER BY id DESC LIMIT 1), 0)) AS recent
"""
QUEUE_SAMPLE_SECONDS = 5.0


class DeliveryQueueSampler:
    """Samples the queue's emails by state into the metrics, every few seconds, surviving
    database outages."""

    def __init__(self, db: Database, seconds: float = QUEUE_SAMPLE_SECONDS) -> None:
        self._db = db
        self._seconds = seconds

    async def run(self) -> None:
        await every("notify queue metrics", self._seconds, self.sample)

    async def sample(self) -> None:
        row = await self._db.fetch_one(_QUEUE, (metrics.RECENT_SECONDS,))
        assert row is not None  # aggregates always have their row
        for state in ("queued", "retrying", "sent", "failed"):
            metrics.QUEUE_EMAILS.labels(state).set(getattr(row, state))


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        event_id=str(row.event_id),
        user_id=row.user_id,
        kind=row.kind,
        email=row.email,
        subject=row.subject,
        body=row.body,
        subscription_ref=row.subscription_ref,
        attempts=row.attempts,
        expires_at=row.expires_at,
        trace_context=row.trace_context or {},
    )


def _in(seconds: float) -> Any:
    return func.now() + timedelta(seconds=seconds)


def _scrubbed_body() -> Any:
    """Verification codes are not kept in clear once their email is out (or given up)."""
    return case((d.kind == literal("verification"), literal(REDACTED)), else_=d.body)


def _mine(delivery_id: int) -> Any:
    return and_(d.id == delivery_id, d.status == "pending")


class DeliveryRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def enqueue(self, new: Sequence[NewDelivery]) -> int:
        """Queue emails; one per (event, user) however often it is asked. How many are new."""
        if not new:
            return 0
        trace_context: dict[str, str] = {}
        tracing.inject(trace_context)  # the sender's span joins the trace that queued them
        rows = [
            {
                "event_id": item.event_id,
                "user_id": item.user_id,
                "kind": item.kind,
                "email": item.email,
                "subject": item.subject,
                "body": item.body,
                "subscription_ref": item.subscription_ref,
                "expires_at": item.expires_at,
                "trace_context": trace_context or None,
            }
            for item in new
        ]
        statement = (
            pg_insert(deliveries).values(rows).on_conflict_do_nothing(index_elements=[d.event_id, d.user_id])
        )
        return len((await self._conn.execute(statement.returning(d.id))).all())

    async def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Delivery]:
        """Take up to `limit` due emails for `worker`: each stays out of others' reach for the lease
        (or until this worker marks it); rows another worker is claiming right now are skipped."""
        due = (
            select(d.id)
            .where(d.status == "pending", d.next_attempt_at <= func.now())
            .order_by(d.next_attempt_at, d.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        statement = (
            deliveries.update()
            .where(d.id.in_(due))
            .values(claimed_by=worker, next_attempt_at=_in(lease_seconds))
            .returning(*deliveries.c)
        )
        rows = await self._conn.execute(statement)
        return sorted((_delivery(row) for row in rows), key=lambda item: item.id)

    async def mark_sent(self, delivery_id: int, provider_message_id: str) -> None:
        await self._conn.execute(
            deliveries.update()
            .where(_mine(delivery_id))
            .values(
                status="sent",
                attempts=d.attempts + 1,
                sent_at=func.now(),
                provider_message_id=provider_message_id,
                claimed_by=None,
                body=_scrubbed_body(),
            )
        )

    async def retry_later(self, delivery_id: int, delay_seconds: float, error: str) -> None:
        await self._conn.execute(
            deliveries.update()
            .where(_mine(delivery_id))
            .values(
                attempts=d.attempts + 1,
                next_attempt_at=_in(delay_seconds),
                last_error=error,
                claimed_by=None,
            )
        )

    async def defer(self, delivery_id: int, delay_seconds: float, reason: str) -> None:
        """Ask again later without counting an attempt (the provider cannot take it yet)."""
        await self._conn.execute(
            deliveries.update()
            .where(_mine(delivery_id))
            .values(next_attempt_at=_in(delay_seconds), last_error=reason, claimed_by=None)
        )

    async def give_up(self, delivery_id: int, error: str, counts_attempt: bool = True) -> None:
        await self._conn.execute(
            deliveries.update()
            .where(_mine(delivery_id))
            .values(
                status="failed",
                attempts=d.attempts + (1 if counts_attempt else 0),
                last_error=error,
                claimed_by=None,
                body=_scrubbed_body(),
            )
        )

    async def release_leases(self, worker: str) -> int:
        """At start: emails this worker had claimed when it stopped (crashed) are due again now."""
        result = await self._conn.execute(
            deliveries.update()
            .where(d.status == "pending", d.claimed_by == worker)
            .values(claimed_by=None, next_attempt_at=func.now())
            .returning(d.id)
        )
        return len(result.all())
