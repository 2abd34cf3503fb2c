"""The tasks service's SQL adapters against a real Postgres (no stack): the one-statement create
with its event, the reads of the fast path, the list SQL with every filter and sort (and the
in-memory fake the use-case tests rely on, held to the same answers), bulk updates, stats, and
the unit of work's commit and rollback."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.db import Database
from tm_common.errors import AlreadyExists
from tm_common.uow import UnitsOfWork
from tm_tasks.adapters.task_store import TaskStore
from tm_tasks.adapters.unit_of_work import SqlTasksUnitOfWork
from tm_tasks.domain.access import Permission
from tm_tasks.domain.cursor import Cursor
from tm_tasks.domain.listing import ListQuery, list_query, sort_value
from tm_tasks.domain.tasks import NewTask, Task, new_task

OWNER, FRIEND = 10, 20
TODAY = date(2026, 6, 15)


def event_for(task: Task) -> EventEnvelope:
    return EventEnvelope(event_id=str(uuid.uuid4()), type="task.created", task_id=task.id)


async def outbox_types(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(text("SELECT event_type FROM outbox ORDER BY id"))).scalars())


async def create(store: TaskStore, user_id: int = OWNER, **fields: object) -> Task:
    values: dict[str, object] = {"title": "task", "description": None, "completed": False}
    values |= {"priority": "medium", "due_date": None, "tags": ()} | fields
    return await store.create(user_id, NewTask(**values), event_for)  # type: ignore[arg-type]


async def test_create_writes_the_task_its_version_and_its_event_in_one_statement(db: Database) -> None:
    store = TaskStore(db)
    task = await store.create(OWNER, new_task("Buy milk", priority="high", tags=["home"]), event_for)
    assert (await store.get_with_comments(task.id, OWNER))[0] == (task, None)
    assert await store.stats_version(OWNER) == 1
    assert await outbox_types(db) == ["task.created"]


async def test_get_for_reads_the_callers_share(db: Database) -> None:
    store, units = TaskStore(db), UnitsOfWork(SqlTasksUnitOfWork, db)
    task = await create(store)
    async with units() as uow:
        await uow.shares.add(task.id, FRIEND, "friend", Permission.EDIT)
        await uow.commit()
    assert await store.get_with_comments(task.id, FRIEND) == ((task, Permission.EDIT), [])
    assert await store.get_with_comments(task.id, 99) == ((task, None), [])
    assert await store.get_with_comments(task.id + 1000, OWNER) == ((None, None), [])
    async with units(read_only=True) as uow:
        assert await uow.tasks.get_for(task.id, FRIEND) == (task, Permission.EDIT)


async def test_a_unit_of_work_commits_its_events_with_its_change(db: Database) -> None:
    store, units = TaskStore(db), UnitsOfWork(SqlTasksUnitOfWork, db)
    task = await create(store)
    async with units() as uow:
        updated = await uow.tasks.update(task.id, {"title": "renamed", "tags": ("a", "b")})
        uow.publish(EventEnvelope(event_id=str(uuid.uuid4()), type="task.updated"), None)
        await uow.commit()
    assert updated.tags == ("a", "b") and updated.updated_at is not None
    assert (await store.get_with_comments(task.id, OWNER))[0][0] == updated
    assert await store.stats_version(OWNER) == 2
    assert await outbox_types(db) == ["task.created", "task.updated"]


async def test_leaving_without_commit_rolls_back_the_change_and_its_events(db: Database) -> None:
    store, units = TaskStore(db), UnitsOfWork(SqlTasksUnitOfWork, db)
    task = await create(store)
    with pytest.raises(RuntimeError):
        async with units() as uow:
            await uow.tasks.delete(task.id)
            uow.publish(EventEnvelope(event_id=str(uuid.uuid4()), type="task.deleted"))
            raise RuntimeError("a rule refused it")
    async with units() as uow:
        await uow.tasks.delete(task.id)  # never committed either
    assert (await store.get_with_comments(task.id, OWNER))[0][0] == task
    assert await outbox_types(db) == ["task.created"]


async def test_a_read_only_unit_of_work_cannot_commit(db: Database) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        async with UnitsOfWork(SqlTasksUnitOfWork, db)(read_only=True) as uow:
            await uow.commit()


async def test_deleting_a_task_takes_its_shares_and_comments(db: Database) -> None:
    store, units = TaskStore(db), UnitsOfWork(SqlTasksUnitOfWork, db)
    task = await create(store)
    async with units() as uow:
        await uow.shares.add(task.id, FRIEND, "friend", Permission.VIEW)
        comment = await uow.comments.add(task.id, FRIEND, "hello")
        await uow.commit()
    async with units() as uow:
        await uow.tasks.delete(task.id)
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.comments.get(comment.id) is None
        assert await uow.shares.audience(task.id) == []
    assert await store.stats_version(OWNER) == 2


async def test_bulk_reads_lock_and_update_many_tasks(db: Database) -> None:
    store, units = TaskStore(db), UnitsOfWork(SqlTasksUnitOfWork, db)
    mine = [await create(store) for _ in range(3)]
    theirs = await create(store, user_id=FRIEND)
    ids = [t.id for t in (*mine, theirs)]
    async with units() as uow:
        found = await uow.tasks.get_many_for([*ids, 999_999], OWNER)
        assert list(found) == sorted(ids)  # what exists, in id order
        updated = await uow.tasks.update_many(ids, {"completed": True, "priority": "low"})
        await uow.commit()
    assert all(t.completed and t.priority == "low" for t in updated.values())
    assert (await store.stats_version(OWNER), await store.stats_version(FRIEND)) == (4, 2)


async def test_shares_are_unique_per_user_and_found_by_any_case(db: Database) -> None:
    store, units = TaskStore(db), UnitsOfWork(SqlTasksUnitOfWork, db)
    task = await create(store)
    async with units() as uow:
        share = await uow.shares.add(task.id, FRIEND, "Friend", Permission.VIEW)
        await uow.commit()
    with pytest.raises(AlreadyExists):
        async with units() as uow:
            await uow.shares.add(task.id, FRIEND, "Friend", Permission.EDIT)
    async with units() as uow:
        assert await uow.shares.get(task.id, "FRIEND") == share
        changed = await uow.shares.set_permission(share.id, Permission.EDIT)
        assert changed.permission == Permission.EDIT
        assert await uow.shares.shared_with(FRIEND, 0, None) == [(task, Permission.EDIT)]
        assert await uow.shares.audiences([task.id, 999]) == {task.id: [FRIEND], 999: []}


async def test_comments_page_oldest_first(db: Database) -> None:
    store, units = TaskStore(db), UnitsOfWork(SqlTasksUnitOfWork, db)
    task = await create(store)
    async with units() as uow:
        made = [await uow.comments.add(task.id, OWNER, f"c{n}") for n in range(3)]
        edited = await uow.comments.set_content(made[0].id, "edited")
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.comments.on_task(task.id, 0, 2) == [edited, made[1]]
        assert await uow.comments.on_task(task.id, made[1].id, None) == [made[2]]


async def test_get_with_comments_reads_the_task_the_share_and_every_comment_in_one_statement(
    db: Database,
) -> None:
    store, units = TaskStore(db), UnitsOfWork(SqlTasksUnitOfWork, db)
    task, other = await create(store), await create(store)
    async with units() as uow:
        await uow.shares.add(task.id, FRIEND, "friend", Permission.VIEW)
        made = [
            await uow.comments.add(task.id, user, f"c{n}") for n, user in enumerate([FRIEND, OWNER, FRIEND])
        ]
        await uow.comments.add(other.id, OWNER, "elsewhere")
        edited = await uow.comments.set_content(made[1].id, 'edited \u00e9 "quoted"')
        await uow.commit()
    async with units(read_only=True) as uow:
        expected = await uow.comments.on_task(task.id, 0, None)
    assert expected == [made[0], edited, made[2]]
    assert await store.get_with_comments(task.id, FRIEND) == ((task, Permission.VIEW), expected)
    assert await store.get_with_comments(task.id, 99) == ((task, None), expected)
    assert await store.get_with_comments(other.id + 1000, OWNER) == ((None, None), [])
    no_comments = await create(store)
    assert await store.get_with_comments(no_comments.id, OWNER) == ((no_comments, None), [])


async def test_stats_count_in_the_database(db: Database) -> None:
    store = TaskStore(db)
    await create(store, completed=True, priority="high", tags=("a", "b"))
    await create(store, due_date=TODAY - timedelta(days=1), tags=("a",))
    await create(store, due_date=TODAY - timedelta(days=1), completed=True)
    await create(store, user_id=FRIEND)
    stats = await store.stats(OWNER, TODAY)
    assert (stats.total, stats.completed, stats.overdue) == (3, 2, 1)
    assert stats.by_priority == {"low": 0, "medium": 2, "high": 1}
    assert stats.by_tag == {"a": 2, "b": 1}


# -- the list SQL: every filter and sort, and the fake held to the same answers ------------------
SCENE = [
    {
        "title": "Alpha invoice",
        "priority": "high",
        "tags": ("work", "urgent"),
        "due_date": TODAY - timedelta(1),
    },
    {"title": "beta", "description": "the INVOICE is late", "priority": "low", "tags": ("work",)},
    {"title": "Gamma 100%", "priority": "medium", "completed": True, "due_date": TODAY - timedelta(2)},
    {"title": "delta_x", "priority": "high", "due_date": TODAY + timedelta(3), "tags": ("home",)},
    {"title": "epsilon", "priority": "low", "due_date": TODAY},
    {"title": "zeta", "priority": "medium"},
]
QUERIES = [
    {},
    {"completed": True},
    {"completed": False},
    {"priority": "high"},
    {"tags": ["work"]},
    {"tags": ["work,urgent"]},
    {"overdue": True},
    {"overdue": False},
    {"search": "invoice"},
    {"search": "100%"},
    {"search": "_x"},
    {"due_after": TODAY.isoformat()},
    {"due_before": TODAY.isoformat()},
    {"created_after": TODAY.isoformat(), "created_before": (TODAY + timedelta(1)).isoformat()},
    {"due_after": f"{TODAY}T20:00:00-05:00", "due_before": f"{TODAY + timedelta(3)}T00:00:00Z"},
    {"created_after": "2000-01-01T00:00:00Z", "created_before": "2999-01-01 00:00+01:00"},
    {"created_before": "2000-01-01T00:00:00.5Z"},
    *(
        {"sort_by": s, "sort_order": o}
        for s in ("id", "title", "priority", "completed", "due_date")
        for o in ("asc", "desc")
    ),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: ",".join(f"{k}={v}" for k, v in q.items()) or "all")
async def test_each_filter_and_order_matches_the_fake(db: Database, query: dict[str, object], fake) -> None:  # type: ignore[no-untyped-def]
    store = TaskStore(db)
    for fields in SCENE:
        task = await create(store, **fields)
        fake.state.tasks[task.id] = task
    await create(store, user_id=FRIEND, title="invoice of someone else")
    asked = list_query(**query, limit=100)  # type: ignore[arg-type]
    found, more = await store.page(OWNER, asked, TODAY)
    assert not more
    assert (await fake.store.page(OWNER, asked, TODAY)) == (found, False)
    assert await store.count(OWNER, asked, TODAY) == len(found)


@pytest.mark.parametrize("sort_by", ["id", "title", "priority", "completed", "created_at", "due_date"])
@pytest.mark.parametrize("descending", [False, True])
async def test_keyset_pages_walk_every_task_once_in_order(
    db: Database, sort_by: str, descending: bool
) -> None:
    store = TaskStore(db)
    for fields in itertools.islice(itertools.cycle(SCENE), 13):
        await create(store, **fields)
    query = ListQuery(sort_by=sort_by, descending=descending, limit=2)
    everything, _ = await store.page(
        OWNER, ListQuery(sort_by=sort_by, descending=descending, limit=100), TODAY
    )
    walked: list[Task] = []
    while True:
        found, more = await store.page(OWNER, query, TODAY)
        walked += found
        if not more:
            break
        last = found[-1]
        after = Cursor("shape", len(walked), sort_value(last, sort_by), last.id)
        query = ListQuery(sort_by=sort_by, descending=descending, limit=2, after=after)
    assert [t.id for t in walked] == [t.id for t in everything]
    assert len({t.id for t in walked}) == 13


async def test_created_dates_are_utc_days(db: Database) -> None:
    store = TaskStore(db)
    task = await create(store)
    day = task.created_at.astimezone(UTC).date()
    inside = list_query(created_after=day.isoformat(), created_before=day.isoformat())
    outside = list_query(created_before=(day - timedelta(days=1)).isoformat())
    assert await store.count(OWNER, inside, TODAY) == 1
    assert await store.count(OWNER, outside, TODAY) == 0
    assert datetime.now(UTC) - task.created_at < timedelta(minutes=5)


async def _created_at(db: Database, task: Task, instant: datetime) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            text("UPDATE tasks SET created_at = :at WHERE id = :id"), {"at": instant, "id": task.id}
        )


async def test_created_date_times_are_inclusive_instants(db: Database) -> None:
    store = TaskStore(db)
    instant = datetime(2026, 6, 15, 10, 0, 0, 500_000, tzinfo=UTC)
    before, exact, after = [await create(store, title=name) for name in ("before", "exact", "after")]
    for task, at in (
        (before, instant - timedelta(microseconds=1)),
        (exact, instant),
        (after, instant + timedelta(microseconds=1)),
    ):
        await _created_at(db, task, at)

    async def titles(**filters: str) -> list[str]:
        found, _ = await store.page(OWNER, list_query(**filters), TODAY)  # type: ignore[arg-type]
        assert await store.count(OWNER, list_query(**filters), TODAY) == len(found)  # type: ignore[arg-type]
        return [task.title for task in found]

    spelled = "2026-06-15T10:00:00.5"
    assert await titles(created_after=spelled) == ["exact", "after"]
    assert await titles(created_before=spelled) == ["before", "exact"]
    assert await titles(created_after=spelled, created_before=spelled) == ["exact"]
    assert await titles(
        created_after="2026-06-15T15:00:00.500+05:00", created_before="2026-06-15 05:00:00.5-05:00"
    ) == ["exact"]
    assert await titles(created_after="2026-06-15T10:00:00.5000001Z") == ["after"]  # rounds inward
    assert await titles(created_before="2026-06-15T10:00:00.4999999Z") == ["before"]
    assert await titles(created_after="2026-06-15", created_before="2026-06-15") == [
        "before",
        "exact",
        "after",
    ]
    assert await titles(created_before="2026-06-14") == []


async def test_due_date_times_are_reduced_to_their_utc_date(db: Database) -> None:
    store = TaskStore(db)
    for day in (TODAY - timedelta(1), TODAY, TODAY + timedelta(1)):
        await create(store, title=day.isoformat(), due_date=day)

    async def titles(**filters: str) -> list[str]:
        found, _ = await store.page(OWNER, list_query(**filters), TODAY)  # type: ignore[arg-type]
        return [task.title for task in found]

    today, tomorrow = TODAY.isoformat(), (TODAY + timedelta(1)).isoformat()
    assert await titles(due_after=f"{today}T23:59:59Z", due_before=f"{today}T00:00") == [today]
    # 21:00 at -05:00 is 02:00 UTC the next day.
    assert await titles(due_after=f"{today}T21:00:00-05:00") == [tomorrow]
    assert await titles(due_before=f"{today} 03:00+05:00") == [(TODAY - timedelta(1)).isoformat()]
