"""SQLAlchemy 2 (Core, async) over psycopg 3, bound to the service's own schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, LiteralString

from psycopg import AsyncConnection as PsycopgConnection
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tm_common import metrics
from tm_common.config import ServiceSettings

# Session-level connections a process keeps outside the pools: LISTEN, one per listening loop
# (the outbox relay; notify's sender too). Reserved from the budget whether used or not.
LISTEN_CONNECTIONS = 2


@dataclass(frozen=True)
class ConnectionBudget:
    """How DB_MAX_CONNECTIONS, every connection one process may open to Postgres, is split.

    Of `total`, LISTEN_CONNECTIONS are kept for LISTEN (tm_common.loops.listening, at
    DATABASE_DIRECT_URL); the rest is halved between the two pools: SQLAlchemy's (`engine`,
    transactions and reads, no overflow above it) and the psycopg fast path's (`fast_path`, the
    hot single statements; it gets the odd one). The default, 10, is 4 + 4 + 2: one process runs
    one event loop on at most one core, and a query holds a connection for well under a
    millisecond, so 4 per pool keep up with what the core can serve; a request that finds its
    pool busy waits (tm_db_pool_waiting) at most 3 s, then fails.

    The worst case the database sees is this times the most processes the autoscalers may run
    (tests/deploy/test_connection_budget.py checks it against the database's limits)."""

    total: int

    def __post_init__(self) -> None:
        if self.total < LISTEN_CONNECTIONS + 2:
            raise ValueError(f"DB_MAX_CONNECTIONS={self.total}: at least {LISTEN_CONNECTIONS + 2}")

    @property
    def listen(self) -> int:
        return LISTEN_CONNECTIONS

    @property
    def engine(self) -> int:
        return (self.total - LISTEN_CONNECTIONS) // 2

    @property
    def fast_path(self) -> int:
        return self.total - LISTEN_CONNECTIONS - self.engine

    @property
    def pools(self) -> int:
        """What the two pools may open together (tm_db_pool_max)."""
        return self.engine + self.fast_path


class Database:
    """The service's database: `transaction()` for writes, `read()` for reads, `fetch_one()` for
    the hottest single statements.

    Reads run in autocommit: one round trip per query instead of BEGIN, query, ROLLBACK. There is
    no pre-ping on checkout (another round trip per request); a connection broken by a database
    restart fails one request, and SQLAlchemy then invalidates the whole pool.

    `fetch_one` bypasses SQLAlchemy: plain psycopg with server-side prepared statements, on a
    pool of its own (measured: GET /tasks/{id} ~20% more requests/s than through SQLAlchemy Core).

    Both pools together stay within DB_MAX_CONNECTIONS (see ConnectionBudget). Neither relies on
    session state beyond its startup parameters, so DATABASE_URL may name a transaction-mode
    pooler (which drops the `options` one: the role's default search_path, set by db-init, is
    the same schema); `libpq_url`, for LISTEN, is DATABASE_DIRECT_URL's when set (Postgres
    itself). DB_PREPARED_STATEMENTS=false for a pooler that cannot keep prepared statements.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.budget = ConnectionBudget(settings.db_max_connections)
        # psycopg: None never prepares; SQLAlchemy's connections prepare a statement on its 5th run
        # (psycopg's default), the fast path's on its first.
        prepare = settings.db_prepared_statements
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url,
            pool_size=self.budget.engine,
            max_overflow=0,
            pool_recycle=1800,
            pool_timeout=3.0,
            connect_args={
                "options": f"-c search_path={settings.db_schema}",
                "application_name": settings.service_name,
                "connect_timeout": 3,
                **({} if prepare else {"prepare_threshold": None}),
            },
        )
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # What plain psycopg connections are given: the fast path the pooler's, LISTEN Postgres's.
        self.pooled_libpq_url = _libpq(settings.database_url)
        self.libpq_url = _libpq(settings.session_database_url)
        self.schema = settings.db_schema
        self._pool = AsyncConnectionPool(
            self.pooled_libpq_url,
            min_size=1,
            max_size=self.budget.fast_path,
            timeout=3.0,  # waiting for a connection longer than this means the database is in trouble
            open=False,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0 if prepare else None,
                "row_factory": namedtuple_row,
                "options": f"-c search_path={settings.db_schema}",
                "application_name": settings.service_name,
                "connect_timeout": 3,
            },
        )
        self._pool_lock = asyncio.Lock()
        self._pool_open = False
        metrics.DB_POOLS.track(self)  # tm_db_pool_* read pool_stats() at every scrape

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection in a transaction that commits on success and rolls back on error."""
        return self.engine.begin()

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads that need no transaction (each statement sees committed data)."""
        return self._autocommit.connect()

    async def fetch_one(self, query: LiteralString, params: Sequence[Any] = ()) -> Any | None:
        """The first row (attribute access by column name) of one prepared statement, or None.

        The statement runs in autocommit, so it is its own transaction: fit for reads, and for a
        write that is whole in one statement (e.g. a data-modifying CTE)."""
        async with (await self._open()).connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchone()

    async def fetch_all(self, query: LiteralString, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of one prepared statement (see fetch_one)."""
        async with (await self._open()).connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[PsycopgConnection[Any]]:
        """A plain psycopg connection of the fast-path pool (autocommit, rows by attribute); use
        `conn.transaction()` and `conn.pipeline()` on it for multi-statement writes."""
        async with (await self._open()).connection() as conn:
            yield conn

    async def _open(self) -> AsyncConnectionPool:
        if not self._pool_open:
            async with self._pool_lock:  # opened in the loop that serves, on first use
                if not self._pool_open:
                    await self._pool.open()
                    self._pool_open = True
        return self._pool

    def pool_stats(self) -> metrics.PoolStats:
        """Both pools together. Called from the metrics thread: reads of plain counters only.
        SQLAlchemy's pool does not tell how many wait; psycopg's does."""
        engine = self.engine.pool
        in_use, idle = engine.checkedout(), engine.checkedin()  # type: ignore[attr-defined]
        waiting = 0
        if self._pool_open:
            stats = self._pool.get_stats()
            in_use += stats["pool_size"] - stats["pool_available"]
            idle += stats["pool_available"]
            waiting = stats.get("requests_waiting", 0)
        return metrics.PoolStats(in_use, idle, waiting, self.budget.pools)

    async def check(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        metrics.DB_POOLS.untrack(self)
        await self.engine.dispose()
        if self._pool_open:
            await self._pool.close()


def _libpq(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
