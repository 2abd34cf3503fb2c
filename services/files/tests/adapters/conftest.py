"""The files schema, migrated, in a Postgres of this session's own (no Redis, services or Envoy):
each test starts from empty tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text

from support.database import ScratchDatabase
from tm_common.db import Database

TABLES = "files, pending_uploads, blob_deletions, deleted_tasks, outbox, processed_events"


@pytest.fixture(scope="session")
def scratch(postgres_admin_url: str) -> Iterator[ScratchDatabase]:
    database = ScratchDatabase(postgres_admin_url)
    database.migrate("files")
    yield database


@pytest.fixture
async def db(scratch: ScratchDatabase) -> AsyncIterator[Database]:
    database = Database(scratch.settings("files"))
    async with database.transaction() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    try:
        yield database
    finally:
        await database.close()
