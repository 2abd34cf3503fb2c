"""SQLAlchemy 2 (Core, async) over psycopg 3, bound to the service's own schema."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tm_common.config import ServiceSettings


class Database:
    """The service's database: `transaction()` for writes, `read()` for single reads.

    Reads run in autocommit: one round trip per query instead of BEGIN, query, ROLLBACK. There is
    no pre-ping on checkout (another round trip per request); a connection broken by a database
    restart fails one request, and SQLAlchemy then invalidates the whole pool.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_size,
            pool_recycle=1800,
            connect_args={
                "options": f"-c search_path={settings.db_schema}",
                "application_name": settings.service_name,
            },
        )
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection in a transaction that commits on success and rolls back on error."""
        return self.engine.begin()

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads that need no transaction (each statement sees committed data)."""
        return self._autocommit.connect()

    async def check(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
