"""The activity service's unit of work on its database: the audit log and timeline access in one
transaction (its own, or the event consumer's it joins)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_activity.adapters.access_store import AccessRepository
from tm_activity.adapters.entry_store import EntryRepository
from tm_common.uow import SqlUnitOfWork


class SqlActivityUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.entries = EntryRepository(conn)
        self.access = AccessRepository(conn)
