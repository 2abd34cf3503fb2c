"""Persistence of the audit log and of who may read each timeline (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_activity.adapters.tables import entries, task_owners, task_viewers
from tm_activity.domain.entries import AccessChange, Entry, NewEntry
from tm_activity.domain.queries import HistoryQuery

After = tuple[datetime, int]  # the (created_at, id) of the last entry of the previous page


def _entry(row: Any) -> Entry:
    return Entry(
        id=row.id,
        user_id=row.user_id,
        username=row.username,
        action=row.action,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        details=row.details,
        created_at=row.created_at,
    )


async def insert_many(conn: AsyncConnection, new: list[NewEntry]) -> None:
    """Append entries (one multi-row INSERT)."""
    if not new:
        return
    await conn.execute(
        entries.insert(),
        [
            {
                "event_id": entry.event_id,
                "user_id": entry.user_id,
                "username": entry.username,
                "action": entry.action,
                "resource_type": entry.resource_type,
                "resource_id": entry.resource_id,
                "task_id": entry.task_id,
                "details": entry.details,
                "created_at": entry.created_at,
            }
            for entry in new
        ],
    )


async def apply_access(conn: AsyncConnection, changes: list[AccessChange]) -> None:
    """Owners, deletions and shares as the events tell them, a few statements for a whole batch."""
    owners = {c.task_id: c.owner_user_id for c in reversed(changes) if c.owner_user_id is not None}
    if owners:
        rows = [{"task_id": task_id, "owner_user_id": owner} for task_id, owner in owners.items()]
        owner = pg_insert(task_owners).values(rows)
        await conn.execute(owner.on_conflict_do_nothing(index_elements=[task_owners.c.task_id]))
    for change in changes:
        if change.deleted:
            deleted = task_owners.update().where(task_owners.c.task_id == change.task_id)
            await conn.execute(deleted.values(deleted_at=change.as_of))
    latest: dict[tuple[int, int], AccessChange] = {}
    for change in changes:  # one row per (task, user) in a statement: the latest event of each
        if change.viewer_user_id is None:
            continue
        key = (change.task_id, change.viewer_user_id)
        if key not in latest or latest[key].as_of < change.as_of:
            latest[key] = change
    if latest:
        viewer = pg_insert(task_viewers).values(
            [
                {
                    "task_id": c.task_id,
                    "user_id": c.viewer_user_id,
                    "active": c.viewer_active,
                    "as_of": c.as_of,
                    "permission": c.permission,
                }
                for c in latest.values()
            ]
        )
        await conn.execute(
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


async def may_read_timeline(conn: AsyncConnection, task_id: int, user_id: int) -> bool:
    """The owner, also after the delete; a user it is shared with, while it exists."""
    owner = task_owners.c
    viewer = task_viewers.c
    shared = exists().where(viewer.task_id == task_id, viewer.user_id == user_id, viewer.active)
    query = select(owner.task_id).where(
        owner.task_id == task_id,
        or_(owner.owner_user_id == user_id, and_(owner.deleted_at.is_(None), shared)),
    )
    return (await conn.execute(query)).first() is not None


def _newest_first(query: Any, after: After | None, limit: int | None) -> Any:
    if after is not None:
        query = query.where(tuple_(entries.c.created_at, entries.c.id) < tuple_(*after))
    query = query.order_by(entries.c.created_at.desc(), entries.c.id.desc())
    return query if limit is None else query.limit(limit)


async def timeline(
    conn: AsyncConnection, task_id: int, after: After | None, limit: int | None
) -> list[Entry]:
    query = _newest_first(select(entries).where(entries.c.task_id == task_id), after, limit)
    return [_entry(row) for row in await conn.execute(query)]


def _history(user_id: int, q: HistoryQuery) -> Any:
    conditions = [entries.c.user_id == user_id]
    if q.resource_type is not None:
        conditions.append(entries.c.resource_type == q.resource_type)
    if q.action is not None:
        conditions.append(entries.c.action == q.action)
    if q.since is not None:
        conditions.append(entries.c.created_at >= q.since)
    if q.until is not None:
        conditions.append(entries.c.created_at < q.until)
    return select(entries).where(*conditions)


async def history(conn: AsyncConnection, user_id: int, q: HistoryQuery, after: After | None) -> list[Entry]:
    """One page (and one more row, to tell whether another page follows)."""
    query = _newest_first(_history(user_id, q), after, q.limit + 1)
    if after is None and q.offset:
        query = query.offset(q.offset)
    return [_entry(row) for row in await conn.execute(query)]


async def counts(conn: AsyncConnection, user_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """The caller's entries counted by action and by resource type (one scan)."""
    c = entries.c
    query = (
        select(c.action, c.resource_type, func.count())
        .where(c.user_id == user_id)
        .group_by(c.action, c.resource_type)
    )
    by_action: dict[str, int] = {}
    by_resource: dict[str, int] = {}
    for action, resource_type, n in await conn.execute(query):
        by_action[action] = by_action.get(action, 0) + n
        by_resource[resource_type] = by_resource.get(resource_type, 0) + n
    return by_action, by_resource
