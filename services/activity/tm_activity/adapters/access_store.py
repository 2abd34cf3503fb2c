"""Who may read each task's timeline, in a unit of work's transaction (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import and_, false, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_activity.adapters.tables import task_owners, task_viewers
from tm_activity.domain.access import AccessUpdate, TimelineAccess


class AccessRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def apply(self, update: AccessUpdate) -> None:
        """A whole batch in a few statements: owners, deletions, and shares, of which a change
        is kept only if it is later (by event time) than the one already held."""
        if update.owners:
            rows = [{"task_id": task_id, "owner_user_id": owner} for task_id, owner in update.owners.items()]
            owner = pg_insert(task_owners).values(rows)
            await self._conn.execute(owner.on_conflict_do_nothing(index_elements=[task_owners.c.task_id]))
        for task_id, as_of in update.deleted.items():
            deleted = task_owners.update().where(task_owners.c.task_id == task_id)
            await self._conn.execute(deleted.values(deleted_at=as_of))
        if update.viewers:
            viewer = pg_insert(task_viewers).values(
                [
                    {
                        "task_id": c.task_id,
                        "user_id": c.viewer_user_id,
                        "active": c.viewer_active,
                        "as_of": c.as_of,
                        "permission": c.permission,
                    }
                    for c in update.viewers
                ]
            )
            await self._conn.execute(
                viewer.on_conflict_do_update(
                    index_elements=[task_viewers.c.task_id, task_viewers.c.user_id],
                    set_={
                        "active": viewer.excluded.active,
                        "as_of": viewer.excluded.as_of,
                        "permission": viewer.excluded.permission,
                    },
                    where=task_viewers.c.as_of < viewer.excluded.as_of,  # the later event wins
                )
            )

    async def timeline_access(self, task_id: int, user_id: int) -> TimelineAccess | None:
        """The task's owner, whether it was deleted, and whether it is shared with `user_id`."""
        owner, viewer = task_owners.c, task_viewers.c
        query = (
            select(owner.owner_user_id, owner.deleted_at.is_not(None), func.coalesce(viewer.active, false()))
            .select_from(
                task_owners.outerjoin(
                    task_viewers, and_(viewer.task_id == owner.task_id, viewer.user_id == user_id)
                )
            )
            .where(owner.task_id == task_id)
        )
        row = (await self._conn.execute(query)).one_or_none()
        return None if row is None else TimelineAccess(owner_user_id=row[0], deleted=row[1], shared=row[2])
