"""The notify schema, migrated, in a Postgres of this session's own (no Redis, services or Envoy):
each test starts from empty tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text

from support.database import ScratchDatabase
from tm_common.db import Database

TABLES = "users, preferences, verification_codes, deliveries, mail_log, processed_events"


@pytest.fixture(scope="session")
def scratch(postgres_admin_url: str) -> Iterator[ScratchDatabase]:
    database = ScratchDatabase(postgres_admin_url)
    database.migrate("notify")
    yield database


@pytest.fixture
async def db(scratch: ScratchDatabase) -> AsyncIterator[Database]:
    database = Database(scratch.settings("notify"))
    async with database.transaction() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY"))
    try:
        yield database
    finally:
        await database.close()
