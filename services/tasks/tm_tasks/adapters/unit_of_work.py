"""The tasks service's unit of work on its database: tasks, shares and comments in one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_common.db import Database
from tm_common.uow import SqlUnitOfWork
from tm_tasks.adapters.comment_store import CommentRepository
from tm_tasks.adapters.share_store import ShareRepository
from tm_tasks.adapters.task_store import TaskRepository


class SqlTasksUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.tasks = TaskRepository(conn)
        self.shares = ShareRepository(conn)
        self.comments = CommentRepository(conn)


class UnitsOfWork:
    """Opens the units of work of the use cases, on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def __call__(self, read_only: bool = False) -> SqlTasksUnitOfWork:
        return SqlTasksUnitOfWork(self._db, read_only)
