"""Persistence of shares, in a unit of work's transaction (SQLAlchemy Core)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_common.errors import AlreadyExists
from tm_tasks.adapters import task_store
from tm_tasks.adapters.tables import shares, tasks
from tm_tasks.domain.access import Permission
from tm_tasks.domain.sharing import Share
from tm_tasks.domain.tasks import Task


def _share(row: Any) -> Share:
    return Share(
        id=row.id,
        task_id=row.task_id,
        shared_with_user_id=row.shared_with_user_id,
        shared_with_username=row.shared_with_username,
        permission=Permission(row.permission),
        shared_at=row.shared_at,
    )


class ShareRepository:
    """Shares in a unit of work's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, task_id: int, user_id: int, username: str, permission: Permission) -> Share:
        statement = (
            shares.insert()
            .values(
                task_id=task_id,
                shared_with_user_id=user_id,
                shared_with_username=username,
                permission=permission,
            )
            .returning(shares)
        )
        try:
            return _share((await self._conn.execute(statement)).one())
        except IntegrityError as exc:
            raise AlreadyExists(f"task {task_id} is already shared with {username}") from exc

    async def get(self, task_id: int, username: str) -> Share | None:
        """The share of a task with a user, by username (case-insensitive, as accounts are)."""
        query = select(shares).where(
            shares.c.task_id == task_id, func.lower(shares.c.shared_with_username) == username.lower()
        )
        row = (await self._conn.execute(query)).one_or_none()
        return None if row is None else _share(row)

    async def set_permission(self, share_id: int, permission: Permission) -> Share:
        statement = (
            shares.update().where(shares.c.id == share_id).values(permission=permission).returning(shares)
        )
        return _share((await self._conn.execute(statement)).one())

    async def delete(self, share_id: int) -> None:
        await self._conn.execute(shares.delete().where(shares.c.id == share_id))

    async def shared_with(
        self, user_id: int, after_id: int, limit: int | None
    ) -> list[tuple[Task, Permission]]:
        """Tasks shared with the user, oldest task first, after task id `after_id`."""
        query = (
            select(tasks, shares.c.permission)
            .join(shares, shares.c.task_id == tasks.c.id)
            .where(shares.c.shared_with_user_id == user_id, tasks.c.id > after_id)
            .order_by(tasks.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        rows = await self._conn.execute(query)
        return [(task_store.task_from_row(row), Permission(row.permission)) for row in rows]

    async def audience(self, task_id: int) -> list[int]:
        """Everyone the task is shared with."""
        return (await self.audiences([task_id]))[task_id]

    async def audiences(self, task_ids: list[int]) -> dict[int, list[int]]:
        """Everyone each task is shared with (one query for many tasks)."""
        query = (
            select(shares.c.task_id, shares.c.shared_with_user_id)
            .where(shares.c.task_id.in_(task_ids))
            .order_by(shares.c.id)
        )
        found: dict[int, list[int]] = {task_id: [] for task_id in task_ids}
        for task_id, user_id in await self._conn.execute(query):
            found[task_id].append(user_id)
        return found
