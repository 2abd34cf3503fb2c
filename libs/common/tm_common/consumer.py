"""Consuming event streams exactly once in effect: at-least-once delivery from Redis consumer
groups, made idempotent by recording each event id in the consumer's own schema.

For each batch read (XREADGROUP, several streams at once):
* one database transaction: insert the batch's event ids into `processed_events` (ON CONFLICT DO
  NOTHING, one statement) and run the handler for the ids that were new (the effects commit with
  them). If a handler raises, the batch rolls back and is applied again one event per savepoint,
  so that only the failing event is left out;
* XACK after the commit. A crash before the ack redelivers the batch, and the recorded ids turn
  the redelivery into a no-op.

A handler that raises rolls back its own savepoint only; the entry stays pending and is retried
when XAUTOCLAIM picks up entries idle longer than `claim_idle_seconds` (which is also how entries
of a dead consumer are taken over). After `max_deliveries` deliveries, or at once when the entry
is not an event this consumer can decode, it goes to the dead-letter stream `<stream>:dead` with
the error, and is acked. A database or Redis outage is not the event's fault: it dead-letters
nothing, and the loop retries with backoff.

Traces (tm_common.tracing): a CONSUMER span per batch, in the trace of the request that caused
its events (the envelope's trace_context), or linked to each of them when they are several.

Metrics (tm_common.metrics): events dead-lettered and the handler's time per event; the group's
lag and pending entries are sampled by a loop of their own (tm_common.consumer_backlog).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import Column, DateTime, MetaData, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common import metrics, tracing
from tm_common.config import ServiceSettings
from tm_common.consumer_backlog import ConsumerBacklog
from tm_common.db import Database
from tm_common.events import UndecodableEvent, decode
from tm_common.loops import Backoff, run_forever

log = logging.getLogger(__name__)
# What a consumer waits out (anything else is a bug, and the task dies loudly).
_OUTAGES = (RedisError, OperationalError, DBAPIError, OSError)

Handler = Callable[[AsyncConnection, EventEnvelope], Awaitable[None]]
# Applies several events in order, in one go (e.g. one multi-row INSERT): what a consumer under
# load wants. It must have the same effect as applying them one by one.
BatchHandler = Callable[[AsyncConnection, list[EventEnvelope]], Awaitable[None]]


def one_by_one(handler: Handler) -> BatchHandler:
    async def apply(conn: AsyncConnection, events: list[EventEnvelope]) -> None:
        for event in events:
            await handler(conn, event)

    return apply


def _columns() -> list[Column[Any]]:
    return [
        Column("event_id", Uuid, primary_key=True),
        Column("stream", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


processed_events = Table("processed_events", MetaData(), *_columns())


def create_processed_events_table(op: Any) -> None:
    """For a consumer's migration."""
    op.create_table("processed_events", *_columns())


def dead_letter_stream(stream: str) -> str:
    return f"{stream}:dead"


@dataclass(frozen=True)
class ConsumerSettings:
    group: str
    consumer: str
    streams: Sequence[str]
    max_deliveries: int = 5
    claim_idle_seconds: float = 30.0
    # Under the service's Redis socket timeout (1 s, tm_common.redis_client): a longer block would
    # time out on every idle poll and pause the loop.
    block_seconds: float = 0.5
    batch_size: int = 100
    # The event types the handler acts on (None: all). Others are acknowledged unread: no decode,
    # no transaction, no processed id (they can have no effect, so a redelivery cannot either).
    event_types: frozenset[str] | None = None


@dataclass
class Entry:
    stream: str
    message_id: bytes
    fields: dict[bytes, bytes] | None  # None: trimmed away while pending
    deliveries: int = 1
    error: str = ""


@dataclass
class ConsumerCounters:
    applied: int = 0
    duplicates: int = 0
    failures: int = 0
    dead_lettered: int = 0
    skipped: int = 0  # of types the handler does not act on
    lag_seconds: list[float] = field(default_factory=list)  # of the last events, for benchmarks


def consumer_loops(
    settings: ServiceSettings,
    db: Database,
    redis: Redis,
    handler: Handler | BatchHandler,
    event_types: frozenset[str] | None = None,
    *,
    batches: bool = False,
) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    """The service's background loops consuming its streams (see ServiceSettings), if it has any:
    the consumer, and the sampling of its group's backlog for the metrics. `batches`: the handler
    is a BatchHandler."""
    if not settings.streams:
        return []
    config = ConsumerSettings(
        group=settings.consumer_group,
        consumer=settings.consumer_name,
        streams=settings.streams,
        event_types=event_types,
    )
    many = cast(BatchHandler, handler) if batches else one_by_one(cast(Handler, handler))
    backlog = ConsumerBacklog(redis, config.group, config.streams)
    return [StreamConsumer(db, redis, config, batch_handler=many).run, backlog.run]


class StreamConsumer:
    def __init__(
        self,
        db: Database,
        redis: Redis,
        settings: ConsumerSettings,
        handler: Handler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise ValueError("give a handler or a batch_handler")
        self._db = db
        self._redis = redis
        self.settings = settings
        self._apply_many: BatchHandler = batch_handler or one_by_one(handler)  # type: ignore[arg-type]
        self.counters = ConsumerCounters()
        self._backoff = Backoff()
        self._next_claim = 0.0

    async def run(self) -> None:
        """Consume until cancelled, surviving outages of Postgres and Redis."""
        await run_forever("event consumer", self._serve, self._backoff, _OUTAGES)

    async def _serve(self) -> None:
        await self.ensure_groups()
        await self._drain_own_pending()
        while True:
            await self.poll()
            self._backoff.reset()

    async def ensure_groups(self) -> None:
        """Create the group on every stream (from the stream's first entry) if it is missing."""
        for stream in self.settings.streams:
            try:
                await self._redis.xgroup_create(stream, self.settings.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def poll(self) -> int:
        """One round: reclaim stuck entries when due, then read new ones; how many were handled."""
        handled = 0
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self.settings.claim_idle_seconds / 2
            handled += await self.claim_stuck()
        reply: Any = await self._redis.xreadgroup(
            self.settings.group,
            self.settings.consumer,
            dict.fromkeys(self.settings.streams, ">"),
            count=self.settings.batch_size,
            block=int(self.settings.block_seconds * 1000),
        )
        entries = [
            Entry(_str(stream), message_id, fields)
            for stream, messages in reply or []
            for message_id, fields in messages
        ]
        await self.handle(entries)
        return handled + len(entries)

    async def _drain_own_pending(self) -> None:
        """Entries delivered to this consumer name before a restart, not yet acked."""
        for stream in self.settings.streams:
            while True:
                reply: Any = await self._redis.xreadgroup(
                    self.settings.group, self.settings.consumer, {stream: "0"}, count=self.settings.batch_size
                )
                messages = reply[0][1] if reply else []
                if not messages:
                    break
                entries = [Entry(stream, message_id, fields or None) for message_id, fields in messages]
                await self._count_deliveries(entries)
                await self.handle(entries)
                if all(entry.error for entry in entries):
                    break  # all failed again: leave them to XAUTOCLAIM's pace

    async def claim_stuck(self) -> int:
        """Take over entries pending longer than claim_idle_seconds (a crashed consumer's, or
        ones whose handler failed) and handle them again."""
        handled = 0
        idle_ms = int(self.settings.claim_idle_seconds * 1000)
        for stream in self.settings.streams:
            start: bytes | str = "0-0"
            while True:
                claimed: Any = await self._redis.xautoclaim(
                    stream,
                    self.settings.group,
                    self.settings.consumer,
                    idle_ms,
                    start_id=start,
                    count=self.settings.batch_size,
                )
                start, messages = claimed[0], claimed[1]
                entries = [Entry(stream, message_id, fields or None) for message_id, fields in messages]
                if entries:
                    await self._count_deliveries(entries)
                    await self.handle(entries)
                    handled += len(entries)
                if _str(start) == "0-0":
                    break
        return handled

    async def _count_deliveries(self, entries: list[Entry]) -> None:
        for entry in entries:
            info = await self._redis.xpending_range(
                entry.stream, self.settings.group, min=entry.message_id, max=entry.message_id, count=1
            )
            entry.deliveries = int(info[0]["times_delivered"]) if info else 1

    async def handle(self, entries: list[Entry]) -> None:
        """Apply a batch in one transaction (a savepoint each), then ack what is settled."""
        if not entries:
            return
        events: list[tuple[Entry, EventEnvelope]] = []
        dead: list[Entry] = []
        settled: list[Entry] = []
        for entry in entries:
            if entry.fields is None:  # pending, but trimmed from the stream: nothing left to apply
                log.error("pending event trimmed away", extra={"message_id": _str(entry.message_id)})
                settled.append(entry)
                continue
            if not self._wanted(entry.fields):
                settled.append(entry)
                self.counters.skipped += 1
                continue
            try:
                events.append((entry, _event_of(entry.fields)))
            except UndecodableEvent as exc:
                entry.error = str(exc)
                dead.append(entry)
        if events:
            with self._span(events):
                if not await self._apply_all(events):
                    async with self._db.transaction() as conn:  # a handler failed: find it, apply the rest
                        for entry, event in events:
                            started = time.perf_counter()
                            await self._apply(conn, entry, event)
                            self._observe_handler(entry, time.perf_counter() - started)
        now = time.time()
        for entry, event in events:
            if not entry.error:
                settled.append(entry)
                self._observe_lag(now, event)
            elif entry.deliveries >= self.settings.max_deliveries:
                dead.append(entry)
        for entry in dead:
            await self._dead_letter(entry)
        await self._ack([*settled, *dead])

    def _span(self, events: list[tuple[Entry, EventEnvelope]]) -> AbstractContextManager[object]:
        """The span of applying the batch, in the trace of the request that caused its events."""
        if not tracing.is_enabled():
            return contextlib.nullcontext()
        return tracing.consuming(
            f"{self.settings.group} process",
            [event.trace_context for _, event in events],
            lambda i: {
                "messaging.system": "redis",
                "messaging.destination.name": events[i][0].stream,
                "messaging.consumer.group.name": self.settings.group,
                "messaging.message.id": events[i][1].event_id,
                "tm.event.type": events[i][1].type,
            },
        )

    def _wanted(self, fields: dict[bytes, bytes]) -> bool:
        wanted = self.settings.event_types
        if wanted is None:
            return True
        kind = fields.get(b"type")
        return kind is None or kind.decode("utf-8", "replace") in wanted  # untyped: decode and see

    async def _apply_all(self, events: list[tuple[Entry, EventEnvelope]]) -> bool:
        """The fast path: the whole batch in one transaction, its ids recorded by one statement.
        False (and nothing applied) if a handler raised."""
        started = time.perf_counter()
        try:
            async with self._db.transaction() as conn:
                rows = [
                    {"event_id": event.event_id, "stream": entry.stream, "event_type": event.type}
                    for entry, event in events
                ]
                statement = pg_insert(processed_events).values(rows).on_conflict_do_nothing()
                new = set(map(str, await conn.scalars(statement.returning(processed_events.c.event_id))))
                fresh = []
                for _, event in events:
                    if event.event_id in new:
                        new.discard(event.event_id)  # the same event twice in one batch: once
                        fresh.append(event)
                if fresh:
                    await self._apply_many(conn, fresh)
                applied = len(fresh)
        except (OperationalError, OSError):
            raise
        except Exception as exc:
            if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                raise
            return False
        self.counters.applied += applied
        self.counters.duplicates += len(events) - applied
        seconds = time.perf_counter() - started
        for entry, _ in events:  # once per event: the time its batch took
            self._observe_handler(entry, seconds)
        return True

    async def _apply(self, conn: AsyncConnection, entry: Entry, event: EventEnvelope) -> None:
        """The careful path: one event in a savepoint of the batch's transaction."""
        try:
            async with conn.begin_nested():
                first = await conn.scalar(
                    pg_insert(processed_events)
                    .values(event_id=event.event_id, stream=entry.stream, event_type=event.type)
                    .on_conflict_do_nothing()
                    .returning(processed_events.c.event_id)
                )
                if first is None:
                    self.counters.duplicates += 1
                    return
                await self._apply_many(conn, [event])
                self.counters.applied += 1
        except (OperationalError, OSError):
            raise  # the database is unreachable: not this event's fault
        except Exception as exc:
            if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                raise
            self.counters.failures += 1
            entry.error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning(
                "event handler failed",
                extra={
                    "event_id": event.event_id,
                    "event_type": event.type,
                    "deliveries": entry.deliveries,
                    "error": entry.error,
                },
            )

    async def _dead_letter(self, entry: Entry) -> None:
        fields: dict[Any, Any] = dict(entry.fields or {})
        fields.update(
            {
                "source_stream": entry.stream,
                "source_id": entry.message_id,
                "group": self.settings.group,
                "deliveries": entry.deliveries,
                "error": entry.error,
            }
        )
        await self._redis.xadd(dead_letter_stream(entry.stream), fields)
        self.counters.dead_lettered += 1
        metrics.CONSUMER_DEAD_LETTERED.labels(entry.stream, self.settings.group).inc()
        log.error(
            "event dead-lettered",
            extra={"stream": entry.stream, "message_id": _str(entry.message_id), "error": entry.error},
        )

    async def _ack(self, entries: list[Entry]) -> None:
        by_stream: dict[str, list[bytes]] = {}
        for entry in entries:
            by_stream.setdefault(entry.stream, []).append(entry.message_id)
        for stream, ids in by_stream.items():
            await self._redis.xack(stream, self.settings.group, *ids)

    def _observe_handler(self, entry: Entry, seconds: float) -> None:
        metrics.CONSUMER_HANDLER.labels(entry.stream, self.settings.group).observe(seconds)

    def _observe_lag(self, now: float, event: EventEnvelope) -> None:
        lags = self.counters.lag_seconds
        lags.append(now - event.occurred_at.ToMicroseconds() / 1e6)
        if len(lags) > 100_000:
            del lags[:50_000]


def _event_of(fields: dict[bytes, bytes]) -> EventEnvelope:
    payload = fields.get(b"payload")
    if payload is None:
        raise UndecodableEvent("the entry has no payload field")
    return decode(payload)


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
