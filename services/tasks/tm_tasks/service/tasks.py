"""Use cases of the tasks service: one function each, every one through the access check."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tm_common.errors import InvalidArgument, NotFound, Problems
from tm_common.paging import PageTokens
from tm_common.singleflight import SingleFlight
from tm_tasks.adapters import events
from tm_tasks.domain import cursor, rules
from tm_tasks.domain.access import Permission, authorize
from tm_tasks.domain.comments import Comment
from tm_tasks.domain.cursor import Cursor
from tm_tasks.domain.listing import ListQuery, page_numbers, resume, sort_value
from tm_tasks.domain.stats import TaskStats
from tm_tasks.domain.tasks import NewTask, Task, changes
from tm_tasks.service.unit_of_work import StatsCache, TaskStore, TasksUnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass
class TasksDeps:
    uow: UnitOfWorkFactory  # a unit of work: tasks, shares and comments in one transaction
    store: TaskStore  # what is whole in one statement: creates and the reads
    cache: StatsCache
    tokens: PageTokens  # of every list that pages with tokens
    # Concurrent misses of one cache entry (right after a write) compute it once.
    flight: SingleFlight = dataclasses.field(default_factory=SingleFlight)


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    total: int
    page: int
    pages: int
    next_page_token: str  # "" on the last page


@dataclass(frozen=True)
class TaskWithComments:
    task: Task
    comments: list[Comment]  # oldest first


def today() -> date:
    """Today's date in UTC: "overdue" means due before it."""
    return datetime.now(UTC).date()


async def locked(uow: TasksUnitOfWork, user_id: int, task_id: int, needed: Permission) -> Task:
    """The task, row-locked for the rest of the transaction, if the user holds `needed` on it."""
    task, shared = await uow.tasks.get_for(task_id, user_id, lock=True)
    return authorize(task, task_id, user_id, needed, shared)


async def create_task(deps: TasksDeps, user_id: int, new: NewTask) -> Task:
    return await deps.store.create(user_id, new, lambda task: events.task_created(user_id, task))


async def get_task(deps: TasksDeps, user_id: int, task_id: int) -> TaskWithComments:
    """A task the user may view, with every one of its comments (GET /tasks/{id} embeds them all,
    as the original did: not paged), read in one statement."""
    (found, shared), comments = await deps.store.get_with_comments(task_id, user_id)
    task = authorize(found, task_id, user_id, Permission.VIEW, shared)
    return TaskWithComments(task, comments)


async def update_task(deps: TasksDeps, user_id: int, task_id: int, patch: dict[str, Any]) -> Task:
    values = changes(patch)
    async with deps.uow() as uow:
        before = await locked(uow, user_id, task_id, Permission.EDIT)
        after = await uow.tasks.update(task_id, values)
        uow.publish(events.task_updated(user_id, before, after, await uow.shares.audience(task_id)))
        await uow.commit()
        return after


async def delete_task(deps: TasksDeps, user_id: int, task_id: int) -> None:
    async with deps.uow() as uow:
        task = await locked(uow, user_id, task_id, Permission.OWNER)
        uow.publish(events.task_deleted(user_id, task, await uow.shares.audience(task_id)))
        await uow.tasks.delete(task_id)
        await uow.commit()


async def add_tags(deps: TasksDeps, user_id: int, task_id: int, tags: list[str]) -> Task:
    problems = Problems()
    async with deps.uow() as uow:
        task = await locked(uow, user_id, task_id, Permission.EDIT)
        merged = rules.merge_tags(task.tags, tags, problems)
        problems.raise_if_any()
        if merged == task.tags:
            return task
        after = await uow.tasks.update(task_id, {"tags": merged})
        uow.publish(events.tags_added(user_id, task, after, await uow.shares.audience(task_id)))
        await uow.commit()
        return after


async def remove_tag(deps: TasksDeps, user_id: int, task_id: int, tag: str) -> Task:
    tag = rules.tag_name(tag)
    async with deps.uow() as uow:
        task = await locked(uow, user_id, task_id, Permission.EDIT)
        if tag not in task.tags:
            raise NotFound(f"task {task_id} has no tag {tag!r}")
        after = await uow.tasks.update(task_id, {"tags": tuple(t for t in task.tags if t != tag)})
        uow.publish(events.tag_removed(user_id, task, after, tag, await uow.shares.audience(task_id)))
        await uow.commit()
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
    async with deps.uow() as uow:
        found = await uow.tasks.get_many_for(ids, user_id)
        before: dict[int, Task] = {}
        for task_id in ids:
            task, shared = found.get(task_id, (None, None))
            before[task_id] = authorize(task, task_id, user_id, Permission.EDIT, shared)
        updated = await uow.tasks.update_many(ids, values)
        shared_with = await uow.shares.audiences(ids)
        uow.publish(*(events.task_updated(user_id, before[i], updated[i], shared_with[i]) for i in ids))
        await uow.commit()
    return [updated[task_id] for task_id in ids]


async def _cached(
    deps: TasksDeps, user_id: int, name: str, day: date, compute: Callable[[], Awaitable[Any]]
) -> Any:
    """A JSON value derived from the user's tasks: from the cache when it holds the user's
    current version, else computed (once for all concurrent callers) and cached."""
    version = await deps.store.stats_version(user_id)
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
        return dataclasses.asdict(await deps.store.stats(user_id, day))

    return TaskStats(**await _cached(deps, user_id, "stats", day, compute))


async def list_tasks(deps: TasksDeps, user_id: int, query: ListQuery, page_token: str = "") -> TaskPage:
    """A page of the user's tasks, after the one `page_token` ended. The total of matching tasks
    is cached like stats: counting 100k tasks costs 10-30 ms, the page itself well under one."""
    if page_token:
        query = resume(query, deps.tokens.read(cursor.scope(user_id), page_token, cursor.LENGTH))
    day, shape = today(), cursor.fingerprint(query)
    found, more = await deps.store.page(user_id, query, day)

    async def count() -> int:
        return await deps.store.count(user_id, query, day)

    total = int(await _cached(deps, user_id, f"total:{shape}", day, count))
    page, pages = page_numbers(total, query.position, query.limit)
    token = ""
    if more:
        last = found[-1]
        after = Cursor(
            query=shape,
            position=query.position + len(found),
            last_value=sort_value(last, query.sort_by),
            last_id=last.id,
        )
        token = deps.tokens.make(cursor.scope(user_id), cursor.encode(after))
    return TaskPage(tasks=found, total=total, page=page, pages=pages, next_page_token=token)
