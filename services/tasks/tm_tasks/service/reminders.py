"""The due-soon reminder use case: one pass of the scheduler (entrypoints/reminders.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, Self

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_tasks.adapters import events
from tm_tasks.domain.reminders import DueSoonDates, due_soon_dates
from tm_tasks.domain.tasks import Task


class ReminderRepository(Protocol):
    async def take_owed(self, dates: DueSoonDates, limit: int) -> list[Task]: ...
    async def mark_sent(self, task_ids: Sequence[int]) -> None: ...


class AudienceRepository(Protocol):
    async def audiences(self, task_ids: list[int]) -> dict[int, list[int]]: ...


class RemindersUnitOfWork(Protocol):
    @property
    def reminders(self) -> ReminderRepository: ...
    @property
    def shares(self) -> AudienceRepository: ...

    def publish(self, *events: EventEnvelope | None) -> None: ...
    async def commit(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...


class RemindersUnitOfWorkFactory(Protocol):
    def __call__(self) -> RemindersUnitOfWork: ...


async def send_due_soon_reminders(
    units: RemindersUnitOfWorkFactory, now: datetime, window: timedelta, limit: int
) -> int:
    """Send the reminders owed at `now`, up to `limit` of them; how many were sent.

    One transaction: the task.due_soon events (to the owner and everyone the task is shared with)
    go to the outbox with the marks that they were sent, so each task gets one per due date,
    whatever crashes, restarts or other instances do."""
    async with units() as uow:
        owed = await uow.reminders.take_owed(due_soon_dates(now, window), limit)
        if not owed:
            return 0
        audiences = await uow.shares.audiences([task.id for task in owed])
        uow.publish(*(events.task_due_soon(task, audiences[task.id]) for task in owed))
        await uow.reminders.mark_sent([task.id for task in owed])
        await uow.commit()
    return len(owed)
