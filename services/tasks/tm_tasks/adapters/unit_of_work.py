"""The tasks service's unit of work on its database: tasks, shares and comments in one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_common.uow import SqlUnitOfWork
from tm_tasks.adapters.comment_store import CommentRepository
from tm_tasks.adapters.share_store import ShareRepository
from tm_tasks.adapters.task_store import TaskRepository


class SqlTasksUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.tasks = TaskRepository(conn)
        self.shares = ShareRepository(conn)
        self.comments = CommentRepository(conn)
