"""The auth service's unit of work on its database: users, and the events of their changes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_auth.adapters.users import UserRepository
from tm_common.uow import SqlUnitOfWork


class SqlAuthUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.users = UserRepository(conn)
