"""The activity service's unit of work on its database: the audit log and timeline access in one
transaction (its own, or the event consumer's it joins)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_activity.adapters.access_store import AccessRepository
from tm_activity.adapters.entry_store import EntryRepository
from tm_common.db import Database
from tm_common.uow import SqlUnitOfWork


class SqlActivityUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.entries = EntryRepository(conn)
        self.access = AccessRepository(conn)


class UnitsOfWork:
    """Opens the units of work of the use cases, on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def __call__(self, read_only: bool = False) -> SqlActivityUnitOfWork:
        return SqlActivityUnitOfWork(self._db, read_only)

    def joining(self, conn: AsyncConnection) -> SqlActivityUnitOfWork:
        """One inside the event consumer's transaction (on its connection), which it commits."""
        return SqlActivityUnitOfWork.joining(conn)
