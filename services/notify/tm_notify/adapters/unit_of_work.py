"""The notify service's unit of work on its database: users and preferences, verification codes
and the email queue in one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_common.uow import SqlUnitOfWork
from tm_notify.adapters.code_store import CodeRepository
from tm_notify.adapters.delivery_store import DeliveryRepository
from tm_notify.adapters.user_store import UserRepository


class SqlNotifyUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.users = UserRepository(conn)
        self.codes = CodeRepository(conn)
        self.deliveries = DeliveryRepository(conn)
