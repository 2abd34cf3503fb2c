"""The base of every service's in-memory unit of work, for use-case tests without a database.

A fake unit of work works on a copy of the service's state; `commit` makes the copy the state and
records the events as the outbox would, leaving without commit drops the copy (a rollback)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, Self

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.uow import UnitOfWork


class State(Protocol):
    outbox: list[EventEnvelope]

    def copy(self) -> Self: ...
    def replace_with(self, other: Self) -> None: ...


class FakeUnitOfWork(UnitOfWork):
    def __init__(self, state: Any, read_only: bool = False) -> None:
        super().__init__()
        self.state = state
        self.read_only = read_only
        self.work = state.copy()
        self.bind(self.work)

    def bind(self, work: Any) -> None:
        """Make the fake repositories on the working copy."""
        raise NotImplementedError

    async def _commit(self, events: Sequence[EventEnvelope]) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.state.replace_with(self.work)
        self.state.outbox.extend(events)

    async def rollback(self) -> None:
        self.work = self.state.copy()
