"""Which tasks are owed their due-soon reminder at a given instant (domain/reminders.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tm_tasks.domain.reminders import due_soon_dates, owes_reminder
from tm_tasks.domain.tasks import Task

DAY = timedelta(days=1)
NOON = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def task(due: date | None, completed: bool = False) -> Task:
    return Task(
        id=1, user_id=1, title="t", description=None, completed=completed, priority="medium",
        due_date=due, tags=(), created_at=NOON, updated_at=None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("now", "window", "first", "last"),
    [
        # The window of a date begins `window` before its 00:00 UTC.
        (NOON, DAY, date(2026, 6, 15), date(2026, 6, 16)),
        (datetime(2026, 6, 15, 0, 0, tzinfo=UTC), DAY, date(2026, 6, 15), date(2026, 6, 16)),
        (datetime(2026, 6, 15, 23, 59, 59, tzinfo=UTC), DAY, date(2026, 6, 15), date(2026, 6, 16)),
        (NOON, timedelta(hours=11, minutes=59), date(2026, 6, 15), date(2026, 6, 15)),
        (NOON, timedelta(hours=12), date(2026, 6, 15), date(2026, 6, 16)),  # 16th begins exactly now + 12 h
        (NOON, timedelta(0), date(2026, 6, 15), date(2026, 6, 15)),  # only today's
        (NOON, timedelta(days=3), date(2026, 6, 15), date(2026, 6, 18)),
        # Days are UTC days, whatever the zone `now` is given in: this is 2026-06-15 01:00 UTC.
        (
            datetime(2026, 6, 14, 20, 0, tzinfo=timezone(timedelta(hours=-5))),
            DAY,
            date(2026, 6, 15),
            date(2026, 6, 16),
        ),
    ],
)
def test_the_due_dates_owed_a_reminder_at_an_instant(now, window, first, last) -> None:
    dates = due_soon_dates(now, window)
    assert (dates.first, dates.last) == (first, last)


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        due_soon_dates(NOON, -DAY)


@pytest.mark.parametrize(
    ("due", "owed"),
    [
        (date(2026, 6, 14), False),  # its due date has ended
        (date(2026, 6, 15), True),  # due today: still eligible until the day ends
        (date(2026, 6, 16), True),  # its window began at 2026-06-15 00:00
        (date(2026, 6, 17), False),  # its window begins at 2026-06-16 00:00
        (None, False),
    ],
)
def test_a_task_is_owed_a_reminder_within_its_window(due: date | None, owed: bool) -> None:
    assert owes_reminder(task(due), None, NOON, DAY) is owed


def test_a_completed_task_is_owed_none() -> None:
    assert not owes_reminder(task(date(2026, 6, 15), completed=True), None, NOON, DAY)


def test_one_reminder_per_due_date_and_a_new_due_date_re_arms_it() -> None:
    due = date(2026, 6, 16)
    assert not owes_reminder(task(due), due, NOON, DAY)  # already sent for this date
    assert owes_reminder(task(due), date(2026, 6, 15), NOON, DAY)  # sent for the old date: owed again
