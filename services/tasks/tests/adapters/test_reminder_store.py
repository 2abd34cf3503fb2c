"""Due-soon reminders against a real Postgres: the scheduler's pass (service/reminders.py over
adapters/reminder_store.py) picks exactly the tasks the domain rule names, writes one task.due_soon
per task and due date into the outbox with the mark that it was sent, re-arms on a new due date,
and never sends twice, also with two passes (two instances) at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.db import Database
from tm_common.events import decode
from tm_common.uow import UnitsOfWork
from tm_tasks.adapters.reminder_store import OWED_SQL, SqlRemindersUnitOfWork
from tm_tasks.adapters.task_store import TaskStore
from tm_tasks.adapters.unit_of_work import SqlTasksUnitOfWork
from tm_tasks.domain.access import Permission
from tm_tasks.domain.reminders import due_soon_dates, owes_reminder
from tm_tasks.domain.tasks import NewTask, Task
from tm_tasks.entrypoints.reminders import DueSoonScheduler
from tm_tasks.service.reminders import send_due_soon_reminders

OWNER, ANN, BOB = 10, 20, 30
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TODAY, TOMORROW = date(2026, 6, 15), date(2026, 6, 16)
DAY = timedelta(days=1)


def created_event(task: Task) -> EventEnvelope:
    return EventEnvelope(event_id=str(uuid.uuid4()), type="task.created", task_id=task.id)


async def create(db: Database, due: date | None, completed: bool = False, user_id: int = OWNER) -> Task:
    new = NewTask(
        title=f"due {due}", description=None, completed=completed, priority="medium", due_date=due, tags=()
    )
    return await TaskStore(db).create(user_id, new, created_event)


async def send(db: Database, now: datetime = NOW, window: timedelta = DAY, limit: int = 100) -> int:
    return await send_due_soon_reminders(UnitsOfWork(SqlRemindersUnitOfWork, db), now, window, limit)


async def reminders(db: Database) -> list[tuple[EventEnvelope, int | None]]:
    """The task.due_soon events in the outbox, oldest first, with their actor column."""
    async with db.read() as conn:
        rows = await conn.execute(
            text("SELECT payload, actor_user_id FROM outbox WHERE event_type = 'task.due_soon' ORDER BY id")
        )
        return [(decode(row.payload), row.actor_user_id) for row in rows]


async def reminded(db: Database) -> list[int]:
    return [event.task_id for event, _ in await reminders(db)]


async def update(db: Database, task_id: int, **values: object) -> None:
    async with UnitsOfWork(SqlTasksUnitOfWork, db)() as uow:
        await uow.tasks.update(task_id, values)
        await uow.commit()


async def test_the_pass_picks_exactly_the_tasks_the_domain_rule_names(db: Database) -> None:
    cases = [
        await create(db, due)
        for due in (None, TODAY - DAY, TODAY, TOMORROW, TOMORROW + DAY, date(2030, 1, 1), date(2000, 1, 1))
    ]
    cases.append(await create(db, TODAY, completed=True))
    assert await send(db) == 2
    expected = [t.id for t in cases if owes_reminder(t, None, NOW, DAY)]
    assert sorted(await reminded(db)) == sorted(expected) == [cases[2].id, cases[3].id]


async def test_a_reminder_is_a_self_contained_event_to_the_owner_and_the_sharees(db: Database) -> None:
    task = await create(db, TOMORROW)
    async with UnitsOfWork(SqlTasksUnitOfWork, db)() as uow:
        await uow.shares.add(task.id, ANN, "ann", Permission.VIEW)
        await uow.shares.add(task.id, BOB, "bob", Permission.EDIT)
        await uow.commit()
    await send(db)
    [(event, actor_column)] = await reminders(db)
    assert (event.type, event.producer, event.actor_user_id, event.actor_username) == (
        "task.due_soon", "tasks", 0, "",
    )  # fmt: skip
    assert actor_column is None  # no user's read-your-writes waits for it
    assert (event.task_id, event.task_owner_user_id, event.task_title) == (task.id, OWNER, task.title)
    assert list(event.audience_user_ids) == [OWNER, ANN, BOB]
    assert event.task_due_soon.due_date == "2026-06-16"
    assert (event.task_due_soon.task.id, event.task_due_soon.task.due_date) == (task.id, "2026-06-16")


async def test_a_task_gets_one_reminder_per_due_date_across_passes_and_restarts(
    db: Database, scratch_database
) -> None:
    task = await create(db, TODAY)
    assert await send(db) == 1
    assert await send(db) == 0
    restarted = Database(scratch_database.settings("tasks"))  # another process: only the table remembers
    try:
        assert await send(restarted, NOW + timedelta(hours=11)) == 0
    finally:
        await restarted.close()
    assert await reminded(db) == [task.id]


async def test_the_mark_is_not_a_change_of_the_task(db: Database) -> None:
    task = await create(db, TODAY)
    version = await TaskStore(db).stats_version(OWNER)
    await send(db)
    assert (await TaskStore(db).get_with_comments(task.id, OWNER))[0][0] == task  # updated_at untouched
    assert await TaskStore(db).stats_version(OWNER) == version


async def test_a_new_due_date_re_arms_the_reminder(db: Database) -> None:
    task = await create(db, TODAY)
    await send(db)
    await update(db, task.id, due_date=TOMORROW)
    assert await send(db) == 1
    await update(db, task.id, title="renamed")  # other changes do not
    assert await send(db) == 0
    events = [event for event, _ in await reminders(db)]
    assert [e.task_due_soon.due_date for e in events] == ["2026-06-15", "2026-06-16"]
    assert events[1].task_title == "due 2026-06-15"  # the title as it stood when it was sent


async def test_a_due_date_moved_out_of_the_window_waits_for_its_own_window(db: Database) -> None:
    task = await create(db, date(2026, 6, 20))
    assert await send(db) == 0
    assert await send(db, datetime(2026, 6, 19, 0, 0, tzinfo=UTC)) == 1  # the 20th's window begins
    assert await reminded(db) == [task.id]


async def test_completed_and_deleted_tasks_get_none(db: Database) -> None:
    done, gone, left = await create(db, TODAY), await create(db, TODAY), await create(db, TODAY)
    await update(db, done.id, completed=True)
    async with UnitsOfWork(SqlTasksUnitOfWork, db)() as uow:
        await uow.tasks.delete(gone.id)
        await uow.commit()
    assert await send(db) == 1
    assert await reminded(db) == [left.id]
    await update(db, done.id, completed=False)  # reopened within its window: owed after all
    assert await send(db) == 1


async def test_a_task_another_pass_holds_is_skipped_not_waited_for_nor_sent_twice(db: Database) -> None:
    held, free = await create(db, TODAY), await create(db, TODAY)
    units = UnitsOfWork(SqlRemindersUnitOfWork, db)
    async with units() as first:  # a pass that has taken `held` and not committed yet
        taken = await first.reminders.take_owed(due_soon_dates(NOW, DAY), 1)
        assert [t.id for t in taken] == [held.id]
        assert await asyncio.wait_for(send(db), 5) == 1  # the other pass sends `free` at once
        await first.reminders.mark_sent([held.id])
        await first.commit()
    assert await send(db) == 0
    assert sorted(await reminded(db)) == [free.id]  # `held` was marked without an event here


async def test_a_pass_that_fails_before_its_commit_leaves_the_reminder_owed(db: Database) -> None:
    task = await create(db, TODAY)
    with pytest.raises(ConnectionError):
        async with UnitsOfWork(SqlRemindersUnitOfWork, db)() as crashed:
            await crashed.reminders.take_owed(due_soon_dates(NOW, DAY), 10)
            await crashed.reminders.mark_sent([task.id])
            raise ConnectionError("the process died before the commit")
    assert await reminded(db) == []
    assert await send(db) == 1
    assert await reminded(db) == [task.id]


@pytest.mark.parametrize("passes", [2, 4])
async def test_concurrent_passes_send_each_reminder_once(db: Database, scratch_database, passes: int) -> None:
    tasks = [await create(db, TODAY if n % 2 else TOMORROW) for n in range(120)]
    instances = [Database(scratch_database.settings("tasks")) for _ in range(passes)]
    try:
        schedulers = [
            DueSoonScheduler(UnitsOfWork(SqlRemindersUnitOfWork, instance), DAY, 1.0, 7, clock=lambda: NOW)
            for instance in instances
        ]
        sent = await asyncio.gather(*(scheduler.scan() for scheduler in schedulers))
        sent += await asyncio.gather(*(scheduler.scan() for scheduler in schedulers))
    finally:
        for instance in instances:
            await instance.close()
    assert sum(sent) == len(tasks)
    assert sorted(await reminded(db)) == sorted(t.id for t in tasks)


async def test_a_scan_drains_every_owed_reminder_in_batches(db: Database) -> None:
    tasks = [await create(db, TODAY) for _ in range(5)]
    scheduler = DueSoonScheduler(
        UnitsOfWork(SqlRemindersUnitOfWork, db), DAY, 1.0, batch_size=2, clock=lambda: NOW
    )
    assert await scheduler.scan() == 5
    assert await scheduler.scan() == 0
    assert sorted(await reminded(db)) == [t.id for t in tasks]


async def test_the_scan_reads_the_index_of_pending_reminders(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = await conn.exec_driver_sql("EXPLAIN " + OWED_SQL, (TODAY, TOMORROW, 10))
        assert "tasks_due_soon_pending" in "\n".join(row[0] for row in plan)
