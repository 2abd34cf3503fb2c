"""DB_MAX_CONNECTIONS holds under load: a Database asked for far more concurrent work than its
budget opens no more connections than its pools' share (Postgres counts them), and the work
still gets done, waiting its turn."""

from __future__ import annotations

import asyncio

import psycopg
from sqlalchemy import text

from support.accounts import unique
from support.database import ScratchDatabase
from tm_common.config import ServiceSettings
from tm_common.db import Database

SERVICE = "tasks"


async def test_a_busy_database_stays_within_its_budget(postgres_admin_url: str) -> None:
    scratch = ScratchDatabase(postgres_admin_url)
    name = unique("budget-").lower()
    db = Database(
        ServiceSettings(
            service_name=name, database_url=scratch.url(SERVICE), db_schema=SERVICE, db_max_connections=6
        )
    )
    seen: list[int] = []
    waiting: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        async with await psycopg.AsyncConnection.connect(postgres_admin_url, autocommit=True) as admin:
            while not done.is_set():
                cursor = await admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name]
                )
                row = await cursor.fetchone()
                assert row is not None
                seen.append(row[0])
                waiting.append(db.pool_stats().waiting)
                await asyncio.sleep(0.01)

    async def fast() -> int:
        row = await db.fetch_one("SELECT 1 AS one FROM pg_sleep(0.05)")
        assert row is not None
        return int(row.one)

    async def transaction() -> int:
        async with db.transaction() as conn:
            return int((await conn.execute(text("SELECT 1 FROM pg_sleep(0.05)"))).scalar_one())

    watcher = asyncio.create_task(watch())
    try:
        results = await asyncio.gather(*(fast() for _ in range(30)), *(transaction() for _ in range(30)))
    finally:
        done.set()
        await watcher
        await db.close()
    assert results == [1] * 60
    assert max(seen) <= db.budget.pools == 4  # 2 + 2; the 2 for LISTEN unused here
    assert max(seen) >= 3  # both pools were busy at once (the watcher is not counted)
    assert max(waiting) > 0  # the fast path queued rather than opening more
