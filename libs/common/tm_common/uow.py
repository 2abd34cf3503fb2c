"""The unit of work (after cosmicpython): one business transaction.

A use case opens one, works through the repositories it exposes, publishes the events of its
change and commits. The events are written to the outbox in the change's own transaction, so an
event exists if and only if its change committed. Leaving without committing rolls back.

Each service subclasses SqlUnitOfWork to bind its repositories to the transaction's connection;
its tests use an in-memory fake of the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Generic, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common import outbox
from tm_common.db import Database


class UnitOfWork:
    """What every unit of work does: collect events, commit, or roll back on leaving."""

    def __init__(self) -> None:
        self.events: list[EventEnvelope] = []
        self.committed = False

    def publish(self, *events: EventEnvelope | None) -> None:
        """Events of this change, written on commit (None: nothing changed, nothing to tell)."""
        self.events.extend(event for event in events if event is not None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self.committed:
            await self.rollback()

    async def commit(self) -> None:
        await self._commit(self.events)
        self.committed = True

    async def _commit(self, events: Sequence[EventEnvelope]) -> None:
        raise NotImplementedError

    async def rollback(self) -> None:
        raise NotImplementedError


class SqlUnitOfWork(UnitOfWork):
    """A unit of work on one connection of the service's database. Subclasses bind their
    repositories to the connection in `bind`.

    * `read_only`: a connection in autocommit (no BEGIN/ROLLBACK round trips) for use cases that
      only read; such a unit of work cannot commit.
    * `joining(conn)`: inside a transaction someone else owns (an event consumer's): commit writes
      the events into it, and the owner commits or rolls back.
    """

    def __init__(self, db: Database, read_only: bool = False) -> None:
        super().__init__()
        self._db: Database | None = db
        self._read_only = read_only
        self._opened: AbstractAsyncContextManager[AsyncConnection] | None = None

    @classmethod
    def joining(cls, conn: AsyncConnection) -> Self:
        unit = cls.__new__(cls)
        UnitOfWork.__init__(unit)
        unit._db, unit._read_only, unit._opened = None, False, None
        unit.conn = conn
        unit.bind(conn)
        return unit

    def bind(self, conn: AsyncConnection) -> None:
        """Make the repositories of this service on `conn`."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        if self._db is None:  # joined: already bound
            return self
        self._opened = self._db.read() if self._read_only else self._db.engine.connect()
        self.conn = await self._opened.__aenter__()
        try:
            if not self._read_only:
                await self.conn.begin()
            self.bind(self.conn)
        except BaseException:
            await self._opened.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            if self._opened is not None:
                await self._opened.__aexit__(None, None, None)

    async def _commit(self, events: Sequence[EventEnvelope]) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        await outbox.add(self.conn, *events)
        if self._db is not None:
            await self.conn.commit()

    async def rollback(self) -> None:
        if self._db is not None and not self._read_only and self.conn.in_transaction():
            await self.conn.rollback()


U = TypeVar("U", bound=SqlUnitOfWork)


class UnitsOfWork(Generic[U]):
    """What a service's use cases open their units of work with: one kind, on one database."""

    def __init__(self, kind: type[U], db: Database) -> None:
        self._kind = kind
        self._db = db

    def __call__(self, read_only: bool = False) -> U:
        return self._kind(self._db, read_only)

    def joining(self, conn: AsyncConnection) -> U:
        """One inside the event consumer's transaction (on its connection), which it commits."""
        return self._kind.joining(conn)
