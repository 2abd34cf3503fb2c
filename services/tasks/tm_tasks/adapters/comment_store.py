"""Persistence of comments, in a unit of work's transaction (SQLAlchemy Core)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_tasks.adapters.tables import comments
from tm_tasks.domain.comments import Comment


def _comment(row: Any) -> Comment:
    return Comment(
        id=row.id,
        task_id=row.task_id,
        user_id=row.user_id,
        content=row.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class CommentRepository:
    """Comments in a unit of work's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, task_id: int, user_id: int, content: str) -> Comment:
        statement = (
            comments.insert().values(task_id=task_id, user_id=user_id, content=content).returning(comments)
        )
        return _comment((await self._conn.execute(statement)).one())

    async def get(self, comment_id: int) -> Comment | None:
        row = (await self._conn.execute(select(comments).where(comments.c.id == comment_id))).one_or_none()
        return None if row is None else _comment(row)

    async def on_task(self, task_id: int, after_id: int, limit: int | None) -> list[Comment]:
        """A task's comments, oldest first, after comment id `after_id`."""
        query = (
            select(comments)
            .where(comments.c.task_id == task_id, comments.c.id > after_id)
            .order_by(comments.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return [_comment(row) for row in await self._conn.execute(query)]

    async def set_content(self, comment_id: int, content: str) -> Comment:
        statement = (
            comments.update()
            .where(comments.c.id == comment_id)
            .values(content=content, updated_at=func.now())
            .returning(comments)
        )
        return _comment((await self._conn.execute(statement)).one())

    async def delete(self, comment_id: int) -> None:
        await self._conn.execute(comments.delete().where(comments.c.id == comment_id))
