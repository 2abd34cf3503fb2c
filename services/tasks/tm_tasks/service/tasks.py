"""Use cases of the tasks service: one function each, every one through the access check."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_common import outbox
from tm_common.db import Database
from tm_common.errors import InvalidArgument, NotFound, Problems
from tm_common.paging import PageTokens
from tm_common.singleflight import SingleFlight
from tm_tasks.adapters import events, share_store, task_store
from tm_tasks.adapters.user_cache import UserCache
from tm_tasks.domain import cursor, rules
from tm_tasks.domain.access import Permission, authorize
from tm_tasks.domain.cursor import Cursor
from tm_tasks.domain.listing import ListQuery, page_numbers, resume
from tm_tasks.domain.stats import TaskStats
from tm_tasks.domain.tasks import NewTask, Task, changes

log = logging.getLogger(__name__)


@dataclass
class TasksDeps:
    db: Database
    cache: UserCache
    tokens: PageTokens  # of every list that pages with tokens
    # Concurrent misses of one cache entry (right after a write) compute it once.
    flight: SingleFlight = dataclasses.field(default_factory=SingleFlight)
    task_ids: task_store.TaskIds = dataclasses.field(default_factory=task_store.TaskIds)


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    total: int
    page: int
    pages: int
    next_page_token: str  # "" on the last page


def today() -> date:
    """Today's date in UTC: "overdue" means due before it."""
    return datetime.now(UTC).date()


async def locked(conn: AsyncConnection, user_id: int, task_id: int, needed: Permission) -> Task:
    """The task, row-locked for the rest of the transaction, if the user holds `needed` on it."""
    task, shared = await task_store.get_for(conn, task_id, user_id, for_update=True)
    return authorize(task, task_id, user_id, needed, shared)


async def audience(conn: AsyncConnection, task_id: int) -> list[int]:
    """Who the task's events concern besides its owner (read in the change's transaction)."""
    return await share_store.audience(conn, task_id)


async def create_task(deps: TasksDeps, user_id: int, new: NewTask) -> Task:
    return await task_store.insert(
        deps.db, deps.task_ids, user_id, new, lambda task: events.task_created(user_id, task)
    )


async def get_task(deps: TasksDeps, user_id: int, task_id: int) -> Task:
    task, shared = await task_store.get_by_id_for(deps.db, task_id, user_id)
    return authorize(task, task_id, user_id, Permission.VIEW, shared)


async def update_task(deps: TasksDeps, user_id: int, task_id: int, patch: dict[str, Any]) -> Task:
    values = changes(patch)
    async with deps.db.transaction() as conn:
        before = await locked(conn, user_id, task_id, Permission.EDIT)
        after = await task_store.update(conn, task_id, values)
        event = events.task_updated(user_id, before, after, await audience(conn, task_id))
        if event is not None:
            await outbox.add(conn, event)
        return after


async def delete_task(deps: TasksDeps, user_id: int, task_id: int) -> None:
    async with deps.db.transaction() as conn:
        task = await locked(conn, user_id, task_id, Permission.OWNER)
        await outbox.add(conn, events.task_deleted(user_id, task, await audience(conn, task_id)))
        await task_store.delete(conn, task_id)


async def add_tags(deps: TasksDeps, user_id: int, task_id: int, tags: list[str]) -> Task:
    problems = Problems()
    async with deps.db.transaction() as conn:
        task = await locked(conn, user_id, task_id, Permission.EDIT)
        merged = rules.merge_tags(task.tags, tags, problems)
        problems.raise_if_any()
        if merged == task.tags:
            return task
        after = await task_store.update(conn, task_id, {"tags": merged})
        await outbox.add(conn, events.tags_added(user_id, task, after, await audience(conn, task_id)))
        return after


async def remove_tag(deps: TasksDeps, user_id: int, task_id: int, tag: str) -> Task:
    tag = rules.tag_name(tag)
    async with deps.db.transaction() as conn:
        task = await locked(conn, user_id, task_id, Permission.EDIT)
        if tag not in task.tags:
            raise NotFound(f"task {task_id} has no tag {tag!r}")
        after = await task_store.update(conn, task_id, {"tags": tuple(t for t in task.tags if t != tag)})
        await outbox.add(conn, events.tag_removed(user_id, task, after, tag, await audience(conn, task_id)))
        return after


MAX_BULK = 100


async def bulk_update(
    deps: TasksDeps, user_id: int, task_ids: list[int], patch: dict[str, Any]
) -> list[Task]:
    """One patch applied to several tasks in one transaction: all of them, or none."""
    if not 1 <= len(task_ids) <= MAX_BULK:
        raise InvalidArgument.for_field("task_ids", f"must name 1 to {MAX_BULK} tasks")
    ids = list(dict.fromkeys(task_ids))
    values = changes(patch)
    async with deps.db.transaction() as conn:
        found = await task_store.get_many_for(conn, ids, user_id)
        before: dict[int, Task] = {}
        for task_id in ids:
            task, shared = found.get(task_id, (None, None))
            before[task_id] = authorize(task, task_id, user_id, Permission.EDIT, shared)
        updated = await task_store.update_many(conn, ids, values)
        shared_with = await share_store.audiences(conn, ids)
        changed = (events.task_updated(user_id, before[i], updated[i], shared_with[i]) for i in ids)
        await outbox.add(conn, *(event for event in changed if event is not None))
    return [updated[task_id] for task_id in ids]


async def _cached(
    deps: TasksDeps, user_id: int, name: str, day: date, compute: Callable[[], Awaitable[Any]]
) -> Any:
    """A JSON value derived from the user's tasks: from the cache when it holds the user's
    current version, else computed (once for all concurrent callers) and cached."""
    version = await task_store.stats_version(deps.db, user_id)
    value = await deps.cache.get(user_id, version, day, name)
    if value is not None:
        return value

    async def fill() -> Any:
        fresh = await compute()
        await deps.cache.put(user_id, version, day, name, fresh)
        return fresh

    return await deps.flight.do((user_id, version, day, name), fill)


async def task_stats(deps: TasksDeps, user_id: int) -> TaskStats:
    day = today()

    async def compute() -> dict[str, Any]:
        async with deps.db.read() as conn:
            return dataclasses.asdict(await task_store.stats(conn, user_id, day))

    return TaskStats(**await _cached(deps, user_id, "stats", day, compute))


async def list_tasks(deps: TasksDeps, user_id: int, query: ListQuery, page_token: str = "") -> TaskPage:
    """A page of the user's tasks, after the one `page_token` ended. The total of matching tasks
    is cached like stats: counting 100k tasks costs 10-30 ms, the page itself well under one."""
    if page_token:
        query = resume(query, deps.tokens.read(cursor.scope(user_id), page_token, cursor.LENGTH))
    day, shape = today(), cursor.fingerprint(query)
    found, more = await task_store.page(deps.db, user_id, query, day)

    async def count() -> int:
        return await task_store.count(deps.db, user_id, query, day)

    total = int(await _cached(deps, user_id, f"total:{shape}", day, count))
    page, pages = page_numbers(total, query.position, query.limit)
    token = ""
    if more:
        last = found[-1]
        after = Cursor(
            query=shape,
            position=query.position + len(found),
            last_value=task_store.sort_value(last, query.sort_by),
            last_id=last.id,
        )
        token = deps.tokens.make(cursor.scope(user_id), cursor.encode(after))
    return TaskPage(tasks=found, total=total, page=page, pages=pages, next_page_token=token)
