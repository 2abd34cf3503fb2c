"""The tasks as the files service tracks them (SQLAlchemy Core): a lock per task that serialises
an upload's commit with the removal of the task's files, and the tasks whose deletion was applied."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_files.adapters.tables import deleted_tasks

_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('files:task'), :t)")


class TaskRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock(self, task_id: int) -> None:
        """Held until the transaction ends."""
        await self._conn.execute(_LOCK, {"t": task_id})

    async def is_deleted(self, task_id: int) -> bool:
        query = select(deleted_tasks.c.task_id).where(deleted_tasks.c.task_id == task_id)
        return await self._conn.scalar(query) is not None

    async def mark_deleted(self, task_id: int) -> None:
        await self._conn.execute(pg_insert(deleted_tasks).values(task_id=task_id).on_conflict_do_nothing())
