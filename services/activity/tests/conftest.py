"""In-memory fakes of the activity service's unit of work and repositories, with the same behaviour
as the SQL ones where the use cases can tell (tests/adapters holds the SQL side to it). The `fake`
fixture gives a fresh service to call use cases on, and the consumer's handler to feed."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from support.fakes import FakeUnitOfWork
from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_activity.domain.access import AccessUpdate, TimelineAccess
from tm_activity.domain.entries import Entry, NewEntry
from tm_activity.domain.queries import After, HistoryQuery
from tm_activity.entrypoints.consumer import RecordEvents
from tm_activity.service.activity import ActivityDeps
from tm_common.paging import PageTokens
from tm_common.write_marks import Settled


@dataclass(frozen=True)
class Owner:
    owner_user_id: int
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class Viewer:
    active: bool
    as_of: datetime
    permission: str


@dataclass
class ActivityState:
    entries: dict[int, tuple[Entry, int | None]] = field(default_factory=dict)  # id -> entry, its task
    owners: dict[int, Owner] = field(default_factory=dict)  # by task
    viewers: dict[tuple[int, int], Viewer] = field(default_factory=dict)  # by (task, user)
    outbox: list[EventEnvelope] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def copy(self) -> ActivityState:
        return dataclasses.replace(
            self, entries=dict(self.entries), owners=dict(self.owners), viewers=dict(self.viewers)
        )

    def replace_with(self, other: ActivityState) -> None:
        self.entries, self.owners, self.viewers = other.entries, other.owners, other.viewers


def _newest_first(found: list[Entry], after: After | None) -> list[Entry]:
    ordered = sorted(found, key=lambda e: (e.created_at, e.id), reverse=True)
    return ordered if after is None else [e for e in ordered if (e.created_at, e.id) < after]


def _oldest_first(found: list[Entry], after: After | None) -> list[Entry]:
    ordered = sorted(found, key=lambda e: (e.created_at, e.id))
    return ordered if after is None else [e for e in ordered if (e.created_at, e.id) > after]


def _in_history(entry: Entry, user_id: int, q: HistoryQuery) -> bool:
    return (
        entry.user_id == user_id
        and q.resource_type in (None, entry.resource_type)
        and q.action in (None, entry.action)
        and (q.since is None or entry.created_at >= q.since)
        and (q.until is None or entry.created_at < q.until)
    )


class FakeEntryRepository:
    def __init__(self, work: ActivityState) -> None:
        self.work = work

    async def add_many(self, new: Sequence[NewEntry]) -> None:
        for n in new:
            entry = Entry(
                next(self.work.ids), n.user_id, n.username, n.action, n.resource_type, n.resource_id,
                n.details, n.created_at,
            )  # fmt: skip
            self.work.entries[entry.id] = (entry, n.task_id)

    async def history(self, user_id: int, query: HistoryQuery, after: After | None) -> list[Entry]:
        mine = [e for e, _ in self.work.entries.values() if _in_history(e, user_id, query)]
        found = _newest_first(mine, after)
        start = query.offset if after is None else 0
        return found[start : start + query.limit + 1]

    async def timeline(self, task_id: int, after: After | None, limit: int | None) -> list[Entry]:
        found = _oldest_first([e for e, task in self.work.entries.values() if task == task_id], after)
        return found if limit is None else found[:limit]

    async def counts(self, user_id: int) -> tuple[dict[str, int], dict[str, int]]:
        by_action: dict[str, int] = {}
        by_resource: dict[str, int] = {}
        for entry, _ in self.work.entries.values():
            if entry.user_id == user_id:
                by_action[entry.action] = by_action.get(entry.action, 0) + 1
                by_resource[entry.resource_type] = by_resource.get(entry.resource_type, 0) + 1
        return by_action, by_resource


class FakeAccessRepository:
    def __init__(self, work: ActivityState) -> None:
        self.work = work

    async def apply(self, update: AccessUpdate) -> None:
        for task_id, owner_user_id in update.owners.items():
            self.work.owners.setdefault(task_id, Owner(owner_user_id))
        for task_id, as_of in update.deleted.items():
            if task_id in self.work.owners:
                self.work.owners[task_id] = dataclasses.replace(self.work.owners[task_id], deleted_at=as_of)
        for change in update.viewers:
            assert change.viewer_user_id is not None
            key = (change.task_id, change.viewer_user_id)
            held = self.work.viewers.get(key)
            if held is None or held.as_of < change.as_of:  # the later event wins
                self.work.viewers[key] = Viewer(change.viewer_active, change.as_of, change.permission)

    async def timeline_access(self, task_id: int, user_id: int) -> TimelineAccess | None:
        owner = self.work.owners.get(task_id)
        if owner is None:
            return None
        viewer = self.work.viewers.get((task_id, user_id))
        shared = viewer is not None and viewer.active
        return TimelineAccess(owner.owner_user_id, owner.deleted_at is not None, shared)


class FakeActivityUnitOfWork(FakeUnitOfWork):
    def bind(self, work: ActivityState) -> None:
        self.entries = FakeEntryRepository(work)
        self.access = FakeAccessRepository(work)


class FakeUnitsOfWork:
    def __init__(self, state: ActivityState) -> None:
        self.state = state
        self.opened: list[FakeActivityUnitOfWork] = []
        self.joined: list[Any] = []  # the connections joined

    def __call__(self, read_only: bool = False) -> FakeActivityUnitOfWork:
        unit = FakeActivityUnitOfWork(self.state, read_only)
        self.opened.append(unit)
        return unit

    def joining(self, conn: Any) -> FakeActivityUnitOfWork:
        self.joined.append(conn)
        return self()


class FakeOwnWrites:
    """Read-your-writes in memory: the caller's writes are applied already, unless told."""

    def __init__(self) -> None:
        self.settled = 0
        self.stale = False

    async def settle(self) -> Settled:
        self.settled += 1
        return Settled(stale=self.stale, waited=0.0)


@dataclass
class FakeActivity:
    """An activity service in memory: its state, its dependencies, and ways to set a scene."""

    state: ActivityState = field(default_factory=ActivityState)

    def __post_init__(self) -> None:
        self.units = FakeUnitsOfWork(self.state)
        self.own_writes = FakeOwnWrites()
        self.deps = ActivityDeps(uow=self.units, tokens=PageTokens(b"k" * 32), own_writes=self.own_writes)
        self.consumer = RecordEvents(self.units)

    async def record(self, *events: EventEnvelope) -> None:
        """A batch of events, through the consumer's handler (in a transaction of its own)."""
        await self.consumer(object(), list(events))

    def entry(self, user_id: int, task_id: int | None = None, **fields: Any) -> Entry:
        """An entry stored as if recorded."""
        values = {"username": None, "action": "created", "resource_type": "task", "resource_id": task_id or 1}
        values |= {"details": None, "created_at": datetime.now(UTC)} | fields
        entry = Entry(id=next(self.state.ids), user_id=user_id, **values)
        self.state.entries[entry.id] = (entry, task_id)
        return entry

    def owner(self, task_id: int, owner_user_id: int, deleted: bool = False) -> None:
        self.state.owners[task_id] = Owner(owner_user_id, datetime.now(UTC) if deleted else None)

    def viewer(self, task_id: int, user_id: int, active: bool = True) -> None:
        self.state.viewers[(task_id, user_id)] = Viewer(active, datetime.now(UTC), "view")

    def recorded(self) -> list[tuple[Entry, int | None]]:
        """Every entry and its task, in the order recorded."""
        return [self.state.entries[i] for i in sorted(self.state.entries)]


@pytest.fixture
def fake() -> FakeActivity:
    return FakeActivity()
