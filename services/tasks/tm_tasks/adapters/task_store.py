"""Persistence of tasks: TaskRepository in a unit of work's transaction (SQLAlchemy Core), and
TaskStore for what is whole in one statement (psycopg, prepared statements)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common import outbox
from tm_common.db import Database
from tm_tasks.adapters import list_sql
from tm_tasks.adapters.tables import stats_versions, tasks
from tm_tasks.domain.access import Permission, Seen
from tm_tasks.domain.comments import Comment
from tm_tasks.domain.listing import ListQuery
from tm_tasks.domain.rules import RANK
from tm_tasks.domain.stats import TaskStats
from tm_tasks.domain.tasks import NewTask, Task

# The columns of a task in table order, for the hand-written queries of the fast path.
_COLUMNS = ", ".join(column.name for column in tasks.columns)
_COLUMNS_OF_T = ", ".join(f"t.{column.name}" for column in tasks.columns)
NAME = {rank: name for name, rank in RANK.items()}


def task_from_row(row: Any) -> Task:
    """A task from a row of SQLAlchemy or of the psycopg fast path (both by attribute)."""
    return Task(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        description=row.description,
        completed=row.completed,
        priority=NAME[row.priority],
        due_date=row.due_date,
        tags=tuple(row.tags),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "priority": RANK[values["priority"]]} if "priority" in values else values


# The task, the bump of its owner's stats version and the creation event in ONE statement: atomic
# on its own, one round trip, no explicit transaction. The event is built before the statement,
# so the task's id comes from a block of ids reserved ahead (see TaskIds) and created_at is set here.
_INSERT = f"""
WITH created AS (
    INSERT INTO tasks (id, user_id, title, description, completed, priority, due_date, tags, created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING {_COLUMNS}
), bumped AS (
    INSERT INTO stats_versions (user_id, version) SELECT user_id, 1 FROM created
    ON CONFLICT (user_id) DO UPDATE SET version = stats_versions.version + 1
), published AS (
    INSERT INTO outbox ({outbox.INSERT_COLUMNS}) VALUES (%s, %s, %s, %s)
)
SELECT {_COLUMNS} FROM created
"""
_RESERVE = "SELECT nextval(pg_get_serial_sequence('tasks', 'id')) AS id FROM generate_series(1, %s)"


class TaskIds:
    """Task ids reserved from the table's sequence a block at a time (one round trip per block
    instead of one per create). Ids stay unique; an instance that stops leaves a gap."""

    def __init__(self, block: int = 100) -> None:
        self._block = block
        self._free: list[int] = []
        self._lock = asyncio.Lock()

    async def next(self, db: Database) -> int:
        if not self._free:
            async with self._lock:
                if not self._free:
                    rows = await db.fetch_all(_RESERVE, (self._block,))
                    self._free = sorted((row.id for row in rows), reverse=True)
        return self._free.pop()


_GET_FOR = f"""
SELECT {_COLUMNS_OF_T}, s.permission AS shared FROM tasks t
LEFT JOIN shares s ON s.task_id = t.id AND s.shared_with_user_id = %s
WHERE t.id = ANY(%s)
ORDER BY t.id
"""
# Row locks in id order, so that concurrent bulk updates cannot deadlock.
_GET_FOR_UPDATE = _GET_FOR + "FOR UPDATE OF t\n"
# GET /tasks/{id}: the task, the caller's share and every comment, oldest first, in one statement
# (the comments of a task the caller may not see are read and dropped: rarer than a second trip).
_GET_WITH_COMMENTS = f"""
SELECT {_COLUMNS_OF_T}, s.permission AS shared, (
  SELECT coalesce(json_agg(json_build_object(
    'id', c.id, 'task_id', c.task_id, 'user_id', c.user_id, 'content', c.content,
    'created_at', c.created_at, 'updated_at', c.updated_at) ORDER BY c.id), '[]')
  FROM comments c WHERE c.task_id = t.id) AS comments
FROM tasks t
LEFT JOIN shares s ON s.task_id = t.id AND s.shared_with_user_id = %s
WHERE t.id = %s
"""


def _seen(row: Any) -> Seen:
    return task_from_row(row), None if row.shared is None else Permission(row.shared)


def _comment_from_json(value: dict[str, Any]) -> Comment:
    updated_at = value["updated_at"]
    return Comment(
        id=value["id"],
        task_id=value["task_id"],
        user_id=value["user_id"],
        content=value["content"],
        created_at=datetime.fromisoformat(value["created_at"]),
        updated_at=None if updated_at is None else datetime.fromisoformat(updated_at),
    )


class TaskRepository:
    """Tasks in a unit of work's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get_for(self, task_id: int, user_id: int, lock: bool = False) -> Seen:
        """A task and the caller's share on it; `lock` holds its row for the transaction."""
        return (await self.get_many_for([task_id], user_id, lock)).get(task_id, (None, None))

    async def get_many_for(self, task_ids: list[int], user_id: int, lock: bool = True) -> dict[int, Seen]:
        """The tasks that exist among `task_ids`, with the caller's share on each."""
        result = await self._conn.exec_driver_sql(
            _GET_FOR_UPDATE if lock else _GET_FOR, (user_id, list(task_ids))
        )
        return {row.id: _seen(row) for row in result}

    async def update_many(self, task_ids: list[int], values: dict[str, Any]) -> dict[int, Task]:
        values = {k: list(v) if k == "tags" else v for k, v in _columns(values).items()}
        statement = (
            tasks.update()
            .where(tasks.c.id.in_(task_ids))
            .values(**values, updated_at=func.now())
            .returning(tasks)
        )
        updated = {row.id: task_from_row(row) for row in await self._conn.execute(statement)}
        await _bump_stats_versions(self._conn, {task.user_id for task in updated.values()})
        return updated

    async def update(self, task_id: int, values: dict[str, Any]) -> Task:
        return (await self.update_many([task_id], values))[task_id]

    async def delete(self, task_id: int) -> None:
        owners = await self._conn.scalars(
            tasks.delete().where(tasks.c.id == task_id).returning(tasks.c.user_id)
        )
        await _bump_stats_versions(self._conn, set(owners))


async def _bump_stats_versions(conn: AsyncConnection, user_ids: set[int]) -> None:
    """Every write of a user's tasks goes through here, in the write's own transaction."""
    if not user_ids:
        return
    statement = pg_insert(stats_versions).values([{"user_id": u, "version": 1} for u in sorted(user_ids)])
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[stats_versions.c.user_id],
            set_={"version": stats_versions.c.version + 1},
        )
    )


class TaskStore:
    """What is whole in one statement, outside any unit of work, on the fast path (psycopg,
    prepared statements, autocommit): creating a task with its event, and the reads."""

    def __init__(self, db: Database, ids: TaskIds | None = None) -> None:
        self._db = db
        self._ids = ids or TaskIds()

    async def create(self, user_id: int, new: NewTask, event_of: Callable[[Task], EventEnvelope]) -> Task:
        """Insert the task with its creation event (written in the same statement, so atomically)."""
        task = Task(
            id=await self._ids.next(self._db),
            user_id=user_id,
            created_at=datetime.now(UTC),
            updated_at=None,
            **dataclasses.asdict(new),
        )
        params = (
            task.id,
            user_id,
            new.title,
            new.description,
            new.completed,
            RANK[new.priority],
            new.due_date,
            list(new.tags),
            task.created_at,
            *outbox.insert_params(event_of(task)),
        )
        row = await self._db.fetch_one(_INSERT, params)
        assert row is not None  # INSERT ... RETURNING always returns the row
        return task_from_row(row)

    async def get_with_comments(self, task_id: int, user_id: int) -> tuple[Seen, list[Comment]]:
        """A task, the caller's share on it and all its comments, oldest first (GET /tasks/{id}, the
        hottest read of the service)."""
        row = await self._db.fetch_one(_GET_WITH_COMMENTS, (user_id, task_id))
        if row is None:
            return (None, None), []
        return _seen(row), [_comment_from_json(value) for value in row.comments]

    async def stats_version(self, user_id: int) -> int:
        """The user's stats version (0 before their first write): names their valid cache entries."""
        row = await self._db.fetch_one("SELECT version FROM stats_versions WHERE user_id = %s", (user_id,))
        return 0 if row is None else int(row.version)

    async def count(self, user_id: int, query: ListQuery, today: date) -> int:
        """How many of the user's tasks match the query's filters."""
        text, params = list_sql.count(user_id, query, today)
        row = await self._db.fetch_one(text, params)
        assert row is not None  # count(*) always answers
        return int(row.n)

    async def page(self, user_id: int, query: ListQuery, today: date) -> tuple[list[Task], bool]:
        """One page of the user's matching tasks, and whether more follow."""
        text, params = list_sql.page(_COLUMNS, user_id, query, today)
        rows = await self._db.fetch_all(text, params)
        return [task_from_row(row) for row in rows[: query.limit]], len(rows) > query.limit

    async def stats(self, user_id: int, today: date) -> TaskStats:
        """Counts over one user's tasks, computed by the database (two aggregate queries)."""
        c = tasks.c
        mine = c.user_id == user_id
        async with self._db.read() as conn:
            counts = (
                await conn.execute(
                    select(
                        func.count(),
                        func.count().filter(c.completed),
                        func.count().filter(c.priority == RANK["low"]),
                        func.count().filter(c.priority == RANK["medium"]),
                        func.count().filter(c.priority == RANK["high"]),
                        func.count().filter(and_(c.due_date < today, c.completed.is_(False))),
                    ).where(mine)
                )
            ).one()
            tags = select(func.unnest(c.tags).label("tag")).where(mine).subquery()
            by_tag = await conn.execute(select(tags.c.tag, func.count()).group_by(tags.c.tag))
            total, completed, low, medium, high, overdue = (int(n) for n in counts)
            return TaskStats(
                total=total,
                completed=completed,
                by_priority={"low": low, "medium": medium, "high": high},
                by_tag={name: int(n) for name, n in by_tag},
                overdue=overdue,
            )
