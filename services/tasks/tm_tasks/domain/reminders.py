"""Due-soon reminders: which tasks are owed one now. Pure, no I/O.

A task with a due date gets one reminder per due date: from `window` before that date begins
(00:00 UTC) until the date ends, unless it is completed. A reminder sent for one due date is not
sent again for it; a new due date re-arms it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tm_tasks.domain.tasks import Task


@dataclass(frozen=True, slots=True)
class DueSoonDates:
    """The due dates whose reminder is due at one instant, both ends included."""

    first: date  # today (UTC): a task stays eligible until its due date ends
    last: date  # the last date whose window has begun

    def __contains__(self, day: date) -> bool:
        return self.first <= day <= self.last


def due_soon_dates(now: datetime, window: timedelta) -> DueSoonDates:
    """The window of a date D begins at D 00:00 UTC minus `window`; it has begun at `now` when
    D 00:00 <= now + window, i.e. D <= the date of now + window."""
    if window < timedelta(0):
        raise ValueError("the due-soon window cannot be negative")
    utc = now.astimezone(UTC)
    return DueSoonDates(first=utc.date(), last=(utc + window).date())


def owes_reminder(task: Task, sent_for: date | None, now: datetime, window: timedelta) -> bool:
    """Whether the task is owed its due-soon reminder at `now`, given the due date its last one
    was sent for (None: never)."""
    return (
        not task.completed
        and task.due_date is not None
        and task.due_date != sent_for
        and task.due_date in due_soon_dates(now, window)
    )
