"""In-memory fakes of the tasks service's unit of work, repositories, store and cache, with the
same behaviour as the SQL ones where the use cases can tell (tests/integration checks the SQL side
against a real Postgres). The `fake` fixture gives a fresh service to call use cases on."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from support.fakes import FakeUnitOfWork
from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.errors import AlreadyExists
from tm_common.paging import PageTokens
from tm_tasks.domain.access import Permission, Seen
from tm_tasks.domain.comments import Comment
from tm_tasks.domain.listing import ListQuery, sort_value
from tm_tasks.domain.rules import PRIORITIES
from tm_tasks.domain.sharing import Share
from tm_tasks.domain.stats import TaskStats
from tm_tasks.domain.tasks import NewTask, Task
from tm_tasks.service.tasks import TasksDeps


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class TasksState:
    tasks: dict[int, Task] = field(default_factory=dict)
    shares: dict[int, Share] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)  # stats version per user
    outbox: list[EventEnvelope] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # one sequence, like serials

    def copy(self) -> TasksState:
        return dataclasses.replace(
            self, tasks=dict(self.tasks), shares=dict(self.shares), comments=dict(self.comments),
            versions=dict(self.versions),
        )  # fmt: skip

    def replace_with(self, other: TasksState) -> None:
        self.tasks, self.shares, self.comments, self.versions = (
            other.tasks, other.shares, other.comments, other.versions,
        )  # fmt: skip

    def bump(self, *user_ids: int) -> None:
        for user_id in user_ids:
            self.versions[user_id] = self.versions.get(user_id, 0) + 1

    def seen(self, task_id: int, user_id: int) -> Seen:
        task = self.tasks.get(task_id)
        if task is None:
            return None, None
        share = next(
            (s for s in self.shares.values() if s.task_id == task_id and s.shared_with_user_id == user_id),
            None,
        )
        return task, None if share is None else share.permission


class FakeTaskRepository:
    def __init__(self, work: TasksState) -> None:
        self.work = work

    async def get_for(self, task_id: int, user_id: int, lock: bool = False) -> Seen:
        return self.work.seen(task_id, user_id)

    async def get_many_for(self, task_ids: list[int], user_id: int, lock: bool = True) -> dict[int, Seen]:
        return {i: self.work.seen(i, user_id) for i in sorted(task_ids) if i in self.work.tasks}

    async def update_many(self, task_ids: list[int], values: dict[str, Any]) -> dict[int, Task]:
        updated = {}
        for task_id in task_ids:
            if task_id in self.work.tasks:
                task = dataclasses.replace(self.work.tasks[task_id], **values, updated_at=now())
                self.work.tasks[task_id] = updated[task_id] = task
        self.work.bump(*{task.user_id for task in updated.values()})
        return updated

    async def update(self, task_id: int, values: dict[str, Any]) -> Task:
        return (await self.update_many([task_id], values))[task_id]

    async def delete(self, task_id: int) -> None:
        task = self.work.tasks.pop(task_id, None)
        if task is not None:  # shares and comments go with it (ON DELETE CASCADE)
            self.work.shares = {k: s for k, s in self.work.shares.items() if s.task_id != task_id}
            self.work.comments = {k: c for k, c in self.work.comments.items() if c.task_id != task_id}
            self.work.bump(task.user_id)


class FakeShareRepository:
    def __init__(self, work: TasksState) -> None:
        self.work = work

    async def add(self, task_id: int, user_id: int, username: str, permission: Permission) -> Share:
        if any(s.task_id == task_id and s.shared_with_user_id == user_id for s in self.work.shares.values()):
            raise AlreadyExists(f"task {task_id} is already shared with {username}")
        share = Share(next(self.work.ids), task_id, user_id, username, permission, now())
        self.work.shares[share.id] = share
        return share

    async def get(self, task_id: int, username: str) -> Share | None:
        return next(
            (
                s
                for s in self.work.shares.values()
                if s.task_id == task_id and s.shared_with_username.lower() == username.lower()
            ),
            None,
        )

    async def set_permission(self, share_id: int, permission: Permission) -> Share:
        share = dataclasses.replace(self.work.shares[share_id], permission=permission)
        self.work.shares[share_id] = share
        return share

    async def delete(self, share_id: int) -> None:
        self.work.shares.pop(share_id, None)

    async def shared_with(
        self, user_id: int, after_id: int, limit: int | None
    ) -> list[tuple[Task, Permission]]:
        found = sorted(
            (
                (self.work.tasks[s.task_id], s.permission)
                for s in self.work.shares.values()
                if s.shared_with_user_id == user_id and s.task_id > after_id
            ),
            key=lambda pair: pair[0].id,
        )
        return found[:limit] if limit is not None else found

    async def audience(self, task_id: int) -> list[int]:
        return (await self.audiences([task_id]))[task_id]

    async def audiences(self, task_ids: list[int]) -> dict[int, list[int]]:
        ordered = sorted(self.work.shares.values(), key=lambda s: s.id)
        return {t: [s.shared_with_user_id for s in ordered if s.task_id == t] for t in task_ids}


class FakeCommentRepository:
    def __init__(self, work: TasksState) -> None:
        self.work = work

    async def add(self, task_id: int, user_id: int, content: str) -> Comment:
        comment = Comment(next(self.work.ids), task_id, user_id, content, now(), None)
        self.work.comments[comment.id] = comment
        return comment

    async def get(self, comment_id: int) -> Comment | None:
        return self.work.comments.get(comment_id)

    async def on_task(self, task_id: int, after_id: int, limit: int | None) -> list[Comment]:
        found = sorted(
            (c for c in self.work.comments.values() if c.task_id == task_id and c.id > after_id),
            key=lambda c: c.id,
        )
        return found[:limit] if limit is not None else found

    async def set_content(self, comment_id: int, content: str) -> Comment:
        comment = dataclasses.replace(self.work.comments[comment_id], content=content, updated_at=now())
        self.work.comments[comment_id] = comment
        return comment

    async def delete(self, comment_id: int) -> None:
        self.work.comments.pop(comment_id, None)


class FakeTasksUnitOfWork(FakeUnitOfWork):
    def bind(self, work: TasksState) -> None:
        self.tasks = FakeTaskRepository(work)
        self.shares = FakeShareRepository(work)
        self.comments = FakeCommentRepository(work)


def _matches(task: Task, query: ListQuery, today: date) -> bool:
    """What list_sql.where selects, in Python."""
    checks = [
        query.completed is None or task.completed == query.completed,
        query.priority is None or task.priority == query.priority,
        set(query.tags) <= set(task.tags),
        query.overdue is None
        or query.overdue == (task.due_date is not None and task.due_date < today and not task.completed),
        not query.search
        or query.search.lower() in task.title.lower()
        or query.search.lower() in (task.description or "").lower(),
        query.created_after is None or task.created_at >= query.created_after,
        query.created_before is None or task.created_at < query.created_before,
        query.due_after is None or (task.due_date is not None and task.due_date >= query.due_after),
        query.due_before is None or (task.due_date is not None and task.due_date <= query.due_before),
    ]
    return all(checks)


def _ordered(found: list[Task], query: ListQuery) -> list[Task]:
    """In the query's order: ties by id, tasks without a due date last in both directions."""
    valued = sorted(
        (t for t in found if sort_value(t, query.sort_by) is not None),
        key=lambda t: (sort_value(t, query.sort_by), t.id),
        reverse=query.descending,
    )
    nulls = sorted((t for t in found if sort_value(t, query.sort_by) is None), key=lambda t: t.id)
    return valued + (nulls[::-1] if query.descending else nulls)


def _beyond(key: tuple[Any, int], cursor: tuple[Any, int], descending: bool) -> bool:
    """Whether a row with `key` (sort value, id) comes after the cursor's (list_sql._after)."""
    (value, row_id), (last, last_id) = key, cursor
    later = row_id < last_id if descending else row_id > last_id
    if value is None or last is None:  # only due dates are missing, and those come last
        return later if value is None and last is None else value is None
    if value != last:
        return value < last if descending else value > last
    return later


class FakeTaskStore:
    def __init__(self, state: TasksState) -> None:
        self.state = state
        self.counted = 0  # list totals computed (not from the cache)
        self.computed = 0  # stats computed

    async def create(self, user_id: int, new: NewTask, event_of: Callable[[Task], EventEnvelope]) -> Task:
        task = Task(
            id=next(self.state.ids),
            user_id=user_id,
            created_at=now(),
            updated_at=None,
            **dataclasses.asdict(new),
        )
        self.state.tasks[task.id] = task
        self.state.bump(user_id)
        self.state.outbox.append(event_of(task))
        return task

    async def get_with_comments(self, task_id: int, user_id: int) -> tuple[Seen, list[Comment]]:
        seen = self.state.seen(task_id, user_id)
        if seen[0] is None:
            return seen, []
        on_task = sorted(
            (c for c in self.state.comments.values() if c.task_id == task_id), key=lambda c: c.id
        )
        return seen, on_task

    async def stats_version(self, user_id: int) -> int:
        return self.state.versions.get(user_id, 0)

    def _matching(self, user_id: int, query: ListQuery, today: date) -> list[Task]:
        mine = [t for t in self.state.tasks.values() if t.user_id == user_id and _matches(t, query, today)]
        return _ordered(mine, query)

    async def count(self, user_id: int, query: ListQuery, today: date) -> int:
        self.counted += 1
        return len(self._matching(user_id, query, today))

    async def page(self, user_id: int, query: ListQuery, today: date) -> tuple[list[Task], bool]:
        rows = self._matching(user_id, query, today)
        if query.after is not None:
            cursor_key = (query.after.last_value, query.after.last_id)
            rows = [
                t for t in rows if _beyond((sort_value(t, query.sort_by), t.id), cursor_key, query.descending)
            ]
            start = 0
        else:
            start = query.skip
        rows = rows[start : start + query.limit + 1]
        return rows[: query.limit], len(rows) > query.limit

    async def stats(self, user_id: int, today: date) -> TaskStats:
        self.computed += 1
        mine = [t for t in self.state.tasks.values() if t.user_id == user_id]
        by_tag: dict[str, int] = {}
        for tag in (tag for t in mine for tag in t.tags):
            by_tag[tag] = by_tag.get(tag, 0) + 1
        return TaskStats(
            total=len(mine),
            completed=sum(t.completed for t in mine),
            by_priority={p: sum(t.priority == p for t in mine) for p in PRIORITIES},
            by_tag=by_tag,
            overdue=sum(t.due_date is not None and t.due_date < today and not t.completed for t in mine),
        )


class FakeCache:
    def __init__(self) -> None:
        self.values: dict[tuple[int, int, date, str], Any] = {}

    async def get(self, user_id: int, version: int, day: date, name: str) -> Any | None:
        return self.values.get((user_id, version, day, name))

    async def put(self, user_id: int, version: int, day: date, name: str, value: Any) -> None:
        self.values[(user_id, version, day, name)] = value


@dataclass(frozen=True)
class FakeUser:
    id: int
    username: str
    email: str


class FakeUserDirectory:
    """The auth service's user directory, as far as sharing asks it."""

    def __init__(self) -> None:
        self.users: dict[str, FakeUser] = {}

    def add(self, user_id: int, username: str) -> FakeUser:
        user = FakeUser(user_id, username, f"{username}@example.com")
        self.users[username.lower()] = user
        return user

    async def by_username(self, username: str) -> FakeUser | None:
        return self.users.get(username.lower())


@dataclass
class FakeTasks:
    """A tasks service in memory: its state, its dependencies, and ways to set a scene."""

    state: TasksState = field(default_factory=TasksState)

    def __post_init__(self) -> None:
        self.store = FakeTaskStore(self.state)
        self.cache = FakeCache()
        self.users = FakeUserDirectory()
        self.units: list[FakeTasksUnitOfWork] = []

        def open_unit(read_only: bool = False) -> FakeTasksUnitOfWork:
            unit = FakeTasksUnitOfWork(self.state, read_only)
            self.units.append(unit)
            return unit

        self.deps = TasksDeps(uow=open_unit, store=self.store, cache=self.cache, tokens=PageTokens(b"k" * 32))

    def task(self, user_id: int, **fields: Any) -> Task:
        """A task of `user_id`, stored as if created (without its event)."""
        values = {"title": "a task", "description": None, "completed": False, "priority": "medium"}
        values |= {"due_date": None, "tags": ()} | fields
        task = Task(id=next(self.state.ids), user_id=user_id, created_at=now(), updated_at=None, **values)
        self.state.tasks[task.id] = task
        return task

    def share(self, task: Task, user_id: int, username: str, permission: Permission) -> Share:
        share = Share(next(self.state.ids), task.id, user_id, username, permission, now())
        self.state.shares[share.id] = share
        return share

    def comment(self, task: Task, user_id: int, content: str = "a comment") -> Comment:
        comment = Comment(next(self.state.ids), task.id, user_id, content, now(), None)
        self.state.comments[comment.id] = comment
        return comment

    def events(self) -> list[EventEnvelope]:
        """The events committed so far, oldest first."""
        return list(self.state.outbox)

    def event_types(self) -> list[str]:
        return [event.type for event in self.state.outbox]


@pytest.fixture
def fake() -> FakeTasks:
    return FakeTasks()
