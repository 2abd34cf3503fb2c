"""The audit log in a unit of work's transaction (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_activity.adapters.tables import entries
from tm_activity.domain.entries import Entry, NewEntry
from tm_activity.domain.queries import After, HistoryQuery


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


def _newest_first(query: Any, after: After | None, limit: int | None) -> Any:
    if after is not None:
        query = query.where(tuple_(entries.c.created_at, entries.c.id) < tuple_(*after))
    query = query.order_by(entries.c.created_at.desc(), entries.c.id.desc())
    return query if limit is None else query.limit(limit)


def _oldest_first(query: Any, after: After | None, limit: int | None) -> Any:
    if after is not None:
        query = query.where(tuple_(entries.c.created_at, entries.c.id) > tuple_(*after))
    query = query.order_by(entries.c.created_at, entries.c.id)
    return query if limit is None else query.limit(limit)


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


class EntryRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add_many(self, new: Sequence[NewEntry]) -> None:
        """Append entries (one multi-row INSERT)."""
        if not new:
            return
        await self._conn.execute(
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

    async def history(self, user_id: int, query: HistoryQuery, after: After | None) -> list[Entry]:
        """A user's own entries, newest first: one page (and one more row, to tell whether
        another page follows)."""
        statement = _newest_first(_history(user_id, query), after, query.limit + 1)
        if after is None and query.offset:
            statement = statement.offset(query.offset)
        return [_entry(row) for row in await self._conn.execute(statement)]

    async def timeline(self, task_id: int, after: After | None, limit: int | None) -> list[Entry]:
        """A task's entries (its comments' and files' too), oldest first: from after `after`."""
        statement = _oldest_first(select(entries).where(entries.c.task_id == task_id), after, limit)
        return [_entry(row) for row in await self._conn.execute(statement)]

    async def counts(self, user_id: int) -> tuple[dict[str, int], dict[str, int]]:
        """A user's entries counted by action and by resource type (one scan)."""
        c = entries.c
        statement = (
            select(c.action, c.resource_type, func.count())
            .where(c.user_id == user_id)
            .group_by(c.action, c.resource_type)
        )
        by_action: dict[str, int] = {}
        by_resource: dict[str, int] = {}
        for action, resource_type, n in await self._conn.execute(statement):
            by_action[action] = by_action.get(action, 0) + n
            by_resource[resource_type] = by_resource.get(resource_type, 0) + n
        return by_action, by_resource
