"""Event lag under load: a consumer built on the common kit's library (tm_common.consumer), in a
thread of its own, reads the tasks stream while the write scenarios run. Lag is the time from the
event's occurred_at (set in the writing transaction, just before its commit) to the moment the
consumer's transaction recording it has committed."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from redis.asyncio import Redis
from sqlalchemy import create_engine, make_url, pool, text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.config import ServiceSettings
from tm_common.consumer import ConsumerSettings, StreamConsumer, create_processed_events_table
from tm_common.db import Database

SCHEMA = "bench_lag"
STREAM = "events:tasks"


def prepare_schema(admin_url: str) -> str:
    """A fresh schema for the watcher's processed_events; its SQLAlchemy URL."""
    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        conn.execute(text(f"SET search_path TO {SCHEMA}"))
        create_processed_events_table(Operations(MigrationContext.configure(conn)))
    engine.dispose()
    return url.render_as_string(hide_password=False)


class LagWatcher:
    def __init__(self, admin_url: str, redis_url: str) -> None:
        self._database_url = prepare_schema(admin_url)
        self._redis_url = redis_url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lags: list[float] = []

    @contextlib.contextmanager
    def measuring(self):  # type: ignore[no-untyped-def]
        """Lags (seconds) of the events that occur inside the block, appended to the list yielded."""
        lags = self._lags = []
        self._stop.clear()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._consume()), daemon=True)
        self._thread.start()
        try:
            yield lags
        finally:
            time.sleep(1.0)  # the last events of the load
            self._stop.set()
            self._thread.join(10)

    async def _consume(self) -> None:
        db = Database(ServiceSettings(database_url=self._database_url, db_schema=SCHEMA))
        redis = Redis.from_url(self._redis_url)

        async def nothing(conn: AsyncConnection, event: EventEnvelope) -> None:
            return None

        settings = ConsumerSettings(
            group="bench-lag", consumer="watcher", streams=[STREAM], block_seconds=0.2
        )
        consumer = StreamConsumer(db, redis, settings, nothing)
        await consumer.ensure_groups()
        await redis.xgroup_setid(STREAM, "bench-lag", "$")  # only what happens from now on
        try:
            while not self._stop.is_set():
                await consumer.poll()
        finally:
            self._lags.extend(consumer.counters.lag_seconds)
            await redis.aclose()
            await db.close()


def summary(lags: list[float]) -> str:
    if len(lags) < 2:
        return "no events seen"
    cuts = statistics.quantiles(lags, n=100, method="inclusive")  # never past the max
    return (
        f"{len(lags)} events, p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, "
        f"max {max(lags) * 1000:.1f} ms"
    )


def audit_lags(activity_url: str, since: float, until: float) -> list[float]:
    """Write to audit entry: seconds from each event's time to the activity service recording it,
    for the events that occurred between `since` and `until` (epoch seconds)."""
    url = make_url(activity_url).set(drivername="postgresql+psycopg")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT extract(epoch FROM recorded_at - created_at) FROM activity.entries "
                "WHERE created_at BETWEEN to_timestamp(:since) AND to_timestamp(:until)"
            ),
            {"since": since, "until": until},
        )
        lags = [float(row[0]) for row in rows]
    engine.dispose()
    return lags
