"""What the use cases of the activity service work through: a unit of work with its repositories.
The SQL versions are in adapters/; the tests' in-memory fakes have the same shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, Self

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_activity.domain.access import AccessUpdate, TimelineAccess
from tm_activity.domain.entries import Entry, NewEntry
from tm_activity.domain.queries import After, HistoryQuery
from tm_common.write_marks import Settled


class EntryRepository(Protocol):
    async def add_many(self, new: Sequence[NewEntry]) -> None: ...
    async def history(self, user_id: int, query: HistoryQuery, after: After | None) -> list[Entry]: ...
    async def timeline(self, task_id: int, after: After | None, limit: int | None) -> list[Entry]: ...
    async def counts(self, user_id: int) -> tuple[dict[str, int], dict[str, int]]: ...


class AccessRepository(Protocol):
    async def apply(self, update: AccessUpdate) -> None: ...
    async def timeline_access(self, task_id: int, user_id: int) -> TimelineAccess | None: ...


class ActivityUnitOfWork(Protocol):
    @property
    def entries(self) -> EntryRepository: ...
    @property
    def access(self) -> AccessRepository: ...

    def publish(self, *events: EventEnvelope | None) -> None: ...
    async def commit(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, read_only: bool = False) -> ActivityUnitOfWork: ...

    # `conn`: the event consumer's connection, in its transaction (opaque here: no SQL in service/).
    def joining(self, conn: Any) -> ActivityUnitOfWork: ...


class OwnWrites(Protocol):
    """Read-your-writes: waits (boundedly) until the caller's own latest writes are in the log."""

    async def settle(self) -> Settled: ...
