"""Persistence of due-soon reminders: the tasks owed one, taken with their rows locked, and the
due date each was sent for (tasks.due_soon_sent_for, migration 0008), in the unit of work of one
scheduler pass."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_common.uow import SqlUnitOfWork
from tm_tasks.adapters.share_store import ShareRepository
from tm_tasks.adapters.tables import tasks
from tm_tasks.adapters.task_store import task_from_row
from tm_tasks.domain.reminders import DueSoonDates
from tm_tasks.domain.tasks import Task

_COLUMNS_OF_T = ", ".join(f"t.{column.name}" for column in tasks.columns)

# domain.reminders.owes_reminder in SQL (it is the predicate of index tasks_due_soon_pending).
# SKIP LOCKED: a task another pass holds (or a user is changing) is left to the next pass; one that
# another pass has just marked is re-read after its lock and no longer qualifies, so two instances
# never send one reminder twice.
OWED_SQL = f"""
SELECT {_COLUMNS_OF_T} FROM tasks t
WHERE NOT t.completed AND t.due_date IS NOT NULL AND t.due_soon_sent_for IS DISTINCT FROM t.due_date
  AND t.due_date BETWEEN %s AND %s
ORDER BY t.due_date, t.id
LIMIT %s
FOR UPDATE OF t SKIP LOCKED
"""
# Not updated_at: a reminder is not a change of the task.
_MARK = "UPDATE tasks SET due_soon_sent_for = due_date WHERE id = ANY(%s)"


class ReminderRepository:
    """Due-soon reminders in a unit of work's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def take_owed(self, dates: DueSoonDates, limit: int) -> list[Task]:
        """Up to `limit` tasks owed their reminder, soonest due first, row-locked until commit."""
        rows = await self._conn.exec_driver_sql(OWED_SQL, (dates.first, dates.last, limit))
        return [task_from_row(row) for row in rows]

    async def mark_sent(self, task_ids: Sequence[int]) -> None:
        """Sent for each task's current due date (so: not again until the due date changes)."""
        if task_ids:
            await self._conn.exec_driver_sql(_MARK, (list(task_ids),))


class SqlRemindersUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.reminders = ReminderRepository(conn)
        self.shares = ShareRepository(conn)
