"""The auth service's unit of work on its database: users, and the events of their changes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_auth.adapters.users import UserRepository
from tm_common.db import Database
from tm_common.uow import SqlUnitOfWork


class SqlAuthUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.users = UserRepository(conn)


class UnitsOfWork:
    """Opens the units of work of the use cases, on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def __call__(self, read_only: bool = False) -> SqlAuthUnitOfWork:
        return SqlAuthUnitOfWork(self._db, read_only)
