"""The outbox relay: publishes a producer's outbox rows to its Redis stream, oldest first.

One batch is one transaction: take the relay lock, read unpublished rows in id order, XADD them
(one pipeline), mark them published, commit. A crash after XADD and before the commit publishes
the batch again on the next run: consumers drop the repeats by event id (tm_common.consumer).

* Order: one relay publishes at a time (a transaction-level advisory lock; other instances of the
  service wait as hot standbys), and a batch holds only committed rows, so the stream follows
  commit order batch by batch. Two writes to one task are never reordered: the second waits for
  the first's row lock and takes its outbox id after the first committed.
* Wake-up: an insert trigger NOTIFYs on commit; the relay also polls every `poll_seconds`.
* Redis or Postgres down: writes go on (they only touch Postgres); the relay retries with
  backoff and drains the backlog when both are back.
* Trimming: XADD with an approximate MAXLEN (`max_stream_length`), and before each batch the relay
  makes sure that trim cannot drop an entry a live consumer group (one with a consumer active
  within `live_group_seconds`, or a new one) has not read and acknowledged. If it would, publishing waits (the
  events stay safe in the outbox) and a warning names the stream.
* Published rows stay in the outbox for `keep_published_hours`, then are deleted.
* Traces (tm_common.tracing): a PRODUCER span per event, in the trace of the request that wrote
  it (the envelope's trace_context), around the XADD and the marking.
* Metrics (tm_common.metrics): rows published, and, sampled every `OUTBOX_SAMPLE_SECONDS` by a
  loop of its own (so they keep telling while the relay is stuck), the unpublished rows and the
  age of the oldest.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import psycopg
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common import metrics, outbox, tracing
from tm_common.config import ServiceSettings
from tm_common.db import Database
from tm_common.loops import Backoff, every, listening, run_forever

log = logging.getLogger(__name__)

# Nothing unless this transaction gets the relay lock (the CTE is evaluated once, first).
_PENDING = """
WITH relay AS (SELECT pg_try_advisory_xact_lock(hashtext(%s)) AS locked)
SELECT id, event_id, event_type, payload FROM outbox, relay
WHERE relay.locked AND published_at IS NULL
ORDER BY id LIMIT %s FOR UPDATE OF outbox SKIP LOCKED
"""
# Published, with where each row went in the stream (tm_common.write_marks reads it).
_MARK = """
UPDATE outbox SET published_at = now(), stream_id = entry.stream_id
FROM unnest(%s::bigint[], %s::text[]) AS entry(id, stream_id) WHERE outbox.id = entry.id
"""
_FORGET = "DELETE FROM outbox WHERE published_at < now() - make_interval(hours => %s)"
# Both on the index of unpublished rows; the oldest by id, which follows commit order.
_BACKLOG = """
SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS rows,
       (SELECT extract(epoch FROM now() - created_at)::float8 FROM outbox
        WHERE published_at IS NULL ORDER BY id LIMIT 1) AS oldest_age
"""
OUTBOX_SAMPLE_SECONDS = 5.0


@dataclass(frozen=True)
class RelaySettings:
    stream: str
    batch_size: int = 500
    poll_seconds: float = 1.0
    max_stream_length: int = 1_000_000
    live_group_seconds: float = 3600.0
    keep_published_hours: int = 168
    housekeeping_seconds: float = 600.0


def relay_loops(
    settings: ServiceSettings, db: Database, redis: Redis
) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    """The service's background loops for its outbox: the relay, unless turned off, and the
    sampling of its backlog for the metrics."""
    relay = [OutboxRelay(db, redis, relay_settings(settings)).run] if settings.outbox_relay else []
    return [*relay, OutboxBacklog(db).run]


def relay_settings(settings: ServiceSettings) -> RelaySettings:
    return RelaySettings(
        stream=settings.events_stream,
        max_stream_length=settings.events_stream_max_length,
        keep_published_hours=settings.outbox_keep_published_hours,
    )


class OutboxRelay:
    def __init__(self, db: Database, redis: Redis, settings: RelaySettings) -> None:
        self._db = db
        self._redis = redis
        self.settings = settings
        self._lock_name = f"outbox relay {db.schema}"
        self._backoff = Backoff()
        self._next_housekeeping = 0.0
        self._next_backpressure_warning = 0.0
        self._length_bound = settings.max_stream_length  # unknown until read

    async def run(self) -> None:
        """Publish until cancelled, surviving outages of Postgres and Redis."""
        await run_forever("outbox relay", self._serve, self._backoff)

    async def _serve(self) -> None:
        channel = outbox.channel(self._db.schema)
        async with listening(self._db.libpq_url, channel, "outbox-relay") as listener:
            while True:
                while await self.publish_batch() >= self.settings.batch_size:
                    pass
                self._backoff.reset()
                await self._housekeeping()
                await listener.wait(self.settings.poll_seconds)

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows; how many were published."""
        # Pipelined: BEGIN rides with the SELECT, the UPDATE with the COMMIT.
        async with self._db.connection() as conn, conn.pipeline(), conn.transaction():
            pending = await conn.execute(_PENDING, (self._lock_name, self.settings.batch_size))
            rows = await pending.fetchall()
            if not rows:
                return 0  # nothing to publish, or another instance is publishing
            rows = rows[: await self._room(len(rows))]
            if not rows:
                return 0
            with self._publish_spans(rows):
                entry_ids = await self._xadd(rows)
                await self._mark_published(conn, [row.id for row in rows], entry_ids)
        metrics.OUTBOX.published += len(rows)
        return len(rows)

    def _publish_spans(self, rows: Sequence[Any]) -> AbstractContextManager[object]:
        """A span per event, in the trace of the request that wrote it."""
        if not tracing.is_enabled():
            return contextlib.nullcontext()
        stream = self.settings.stream
        return tracing.spans_in_their_traces(
            f"{stream} publish",
            [EventEnvelope.FromString(bytes(row.payload)).trace_context for row in rows],
            SpanKind.PRODUCER,
            lambda i: {
                "messaging.system": "redis",
                "messaging.destination.name": stream,
                "messaging.message.id": str(rows[i].event_id),
                "messaging.operation.type": "send",
                "tm.event.type": rows[i].event_type,
            },
        )

    async def _xadd(self, rows: Sequence[Any]) -> list[str]:
        """The rows on the stream, in one pipeline; their entry ids."""
        pipe = self._redis.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(
                self.settings.stream,
                {"event_id": str(row.event_id), "type": row.event_type, "payload": bytes(row.payload)},
                maxlen=self.settings.max_stream_length,
                approximate=True,
            )
        return [_bytes(entry_id).decode() for entry_id in await pipe.execute()]

    async def _mark_published(
        self, conn: psycopg.AsyncConnection[Any], ids: list[int], entry_ids: list[str]
    ) -> None:
        await conn.execute(_MARK, (ids, entry_ids))

    async def _room(self, wanted: int) -> int:
        """How many entries may be added without the MAXLEN trim dropping one that a live group
        still needs."""
        # Only XADD makes the stream longer: far from the cap, the last length read plus what
        # was added since is a safe bound, and saves a round trip per batch.
        if self._length_bound + wanted <= self.settings.max_stream_length // 2:
            self._length_bound += wanted
            return wanted
        length = await self._redis.xlen(self.settings.stream)
        self._length_bound = length + wanted
        overflow = length + wanted - self.settings.max_stream_length
        if overflow <= 0:
            return wanted
        room = wanted - (overflow - await self._droppable(overflow))
        if room < wanted and time.monotonic() >= self._next_backpressure_warning:
            self._next_backpressure_warning = time.monotonic() + 60
            log.warning(
                "outbox relay held back: a consumer group has not read the stream's oldest events",
                extra={"stream": self.settings.stream, "length": length, "publishing": max(room, 0)},
            )
        return max(room, 0)

    async def _droppable(self, limit: int) -> int:
        """How many of the oldest entries (at most `limit`) every live group has read and acked."""
        stream = self.settings.stream
        droppable = limit
        for group in await self._redis.xinfo_groups(stream):
            if not await self._live(group["name"]):
                continue
            if group["pending"]:
                oldest_unacked = (await self._redis.xpending(stream, group["name"]))["min"]
                end = b"(" + _bytes(oldest_unacked)
            else:
                end = _bytes(group["last-delivered-id"])
            done: Any = await self._redis.xrange(stream, "-", end, count=droppable)
            droppable = min(droppable, len(done))
        return droppable

    async def _live(self, group: bytes | str) -> bool:
        """A group is live unless every consumer it has was idle longer than live_group_seconds.
        One with no consumer yet is new (Redis 6.2 creates a consumer at its first delivery)."""
        consumers = await self._redis.xinfo_consumers(self.settings.stream, group)
        return not consumers or any(c["idle"] < self.settings.live_group_seconds * 1000 for c in consumers)

    async def _housekeeping(self) -> None:
        if time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + self.settings.housekeeping_seconds
        async with self._db.connection() as conn:
            await conn.execute(_FORGET, (self.settings.keep_published_hours,))


class OutboxBacklog:
    """Samples the unpublished rows and the oldest one's age into the metrics."""

    def __init__(self, db: Database, seconds: float = OUTBOX_SAMPLE_SECONDS) -> None:
        self._db = db
        self._seconds = seconds

    async def run(self) -> None:
        await every("outbox metrics", self._seconds, self.sample)

    async def sample(self) -> None:
        row = await self._db.fetch_one(_BACKLOG)
        assert row is not None  # an aggregate always has its row
        metrics.OUTBOX.record(row.rows, row.oldest_age)


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
