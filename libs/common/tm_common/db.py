"""SQLAlchemy 2 (Core, async) over psycopg 3, bound to the service's own schema."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tm_common.config import ServiceSettings


def create_engine(settings: ServiceSettings) -> AsyncEngine:
    """An engine whose connections see only the service's schema on their search_path."""
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        connect_args={
            "options": f"-c search_path={settings.db_schema}",
            "application_name": settings.service_name,
        },
    )


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
