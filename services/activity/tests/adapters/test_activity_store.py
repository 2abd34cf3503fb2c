"""The activity service's SQL adapters against a real Postgres (no stack): the audit log's batched
insert and its reads (every history filter, keyset and offset pages, the timeline, counts), with
the in-memory fake the use-case tests rely on held to the same answers; timeline access with its
later-event-wins upsert; the unit of work on its own and inside the consumer's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from taskmanager.events.v1 import events_pb2 as pb
from tm_activity.adapters.unit_of_work import SqlActivityUnitOfWork
from tm_activity.domain.access import AccessChange, AccessUpdate, TimelineAccess, access_update
from tm_activity.domain.entries import Entry, NewEntry
from tm_activity.domain.queries import After, HistoryQuery, history_query
from tm_activity.entrypoints.consumer import RecordEvents
from tm_common.db import Database
from tm_common.events import envelope
from tm_common.uow import UnitsOfWork

OWNER, VIEWER, OTHER = 10, 20, 30
T0 = datetime(2026, 11, 10, 12, tzinfo=UTC)


def new_entry(user_id: int, task_id: int | None, seconds: int, **fields: object) -> NewEntry:
    values: dict[str, object] = {"username": "alice", "action": "created", "resource_type": "task"}
    values |= {"resource_id": task_id or 1, "details": {"task": {"id": task_id, "tags": []}}} | fields
    return NewEntry(
        event_id=str(uuid.uuid4()),
        user_id=user_id,
        task_id=task_id,
        created_at=T0 + timedelta(seconds=seconds),
        **values,  # type: ignore[arg-type]
    )


# Entries of two users on three tasks, with ties of time, over three days.
LOG = [
    new_entry(OWNER, 1, 0),
    new_entry(OWNER, 1, 0, action="updated"),
    new_entry(OWNER, 1, 3600, action="created", resource_type="comment", resource_id=5),
    new_entry(VIEWER, 1, 3600, action="updated", details={"changes": {"title": {"old": None, "new": "é"}}}),
    new_entry(OWNER, 2, 86_400, action="uploaded", resource_type="file", resource_id=9),
    new_entry(OWNER, 2, 86_400, action="shared"),
    new_entry(OWNER, None, 86_400 * 2, action="deleted", resource_type="comment", details=None),
    new_entry(OWNER, 3, 86_400 * 2 + 1, action="unshared", username=None),
]


async def record(db: Database, new: list[NewEntry]) -> None:
    async with UnitsOfWork(SqlActivityUnitOfWork, db)() as uow:
        await uow.entries.add_many(new)
        await uow.commit()


async def test_entries_are_written_in_one_batch_and_read_back_whole(db: Database) -> None:
    await record(db, LOG)
    async with UnitsOfWork(SqlActivityUnitOfWork, db)(read_only=True) as uow:
        timeline = await uow.entries.timeline(1, None, None)
    assert [e.id for e in timeline] == [1, 2, 3, 4]  # oldest first, ties by id
    assert timeline[-1] == Entry(4, VIEWER, "alice", "updated", "task", 1, LOG[3].details, LOG[3].created_at)
    async with db.read() as conn:
        event_ids = (await conn.execute(text("SELECT event_id::text FROM entries ORDER BY id"))).scalars()
        assert list(event_ids) == [e.event_id for e in LOG]


HISTORIES = [
    {},
    {"resource_type": "comment"},
    {"action": "created"},
    {"resource_type": "task", "action": "shared"},
    {"start_date": "2026-11-11"},
    {"end_date": "2026-11-10"},
    {"start_date": "2026-11-11", "end_date": "2026-11-11"},
    {"limit": 2},
    {"limit": 2, "offset": 2},
    {"offset": 10},
]


@pytest.mark.parametrize("fields", HISTORIES, ids=str)
@pytest.mark.parametrize("user_id", [OWNER, VIEWER, OTHER])
async def test_history_filters_and_pages_as_the_fake_does(
    db: Database, fake, fields: dict, user_id: int
) -> None:
    query = history_query(**({"resource_type": None, "action": None, "start_date": None, "end_date": None}
                             | {"limit": None, "offset": None} | fields))  # fmt: skip
    await record(db, LOG)
    async with fake.units() as faked:
        await faked.entries.add_many(LOG)
        await faked.commit()
    async with (
        UnitsOfWork(SqlActivityUnitOfWork, db)(read_only=True) as uow,
        fake.units(read_only=True) as faked,
    ):
        found = await uow.entries.history(user_id, query, None)
        assert found == await faked.entries.history(user_id, query, None)
        assert len(found) <= query.limit + 1
        if found:  # and after the first entry, by keyset
            after: After = (found[0].created_at, found[0].id)
            assert await uow.entries.history(user_id, query, after) == await faked.entries.history(
                user_id, query, after
            )


async def test_history_holds_one_more_row_than_the_page(db: Database) -> None:
    await record(db, LOG)
    query = HistoryQuery(None, None, None, None, limit=3, offset=0)
    async with UnitsOfWork(SqlActivityUnitOfWork, db)(read_only=True) as uow:
        first = await uow.entries.history(OWNER, query, None)
        rest = await uow.entries.history(OWNER, query, (first[2].created_at, first[2].id))
    assert [e.id for e in first] == [8, 7, 6, 5]
    assert [e.id for e in rest] == [5, 3, 2, 1]


async def test_timeline_pages_by_keyset_as_the_fake_does(db: Database, fake) -> None:
    await record(db, LOG)
    async with fake.units() as faked:
        await faked.entries.add_many(LOG)
        await faked.commit()
    async with (
        UnitsOfWork(SqlActivityUnitOfWork, db)(read_only=True) as uow,
        fake.units(read_only=True) as faked,
    ):
        for task_id in (1, 2, 3, 4):
            for after, limit in (
                (None, None),
                (None, 1),
                ((T0, 1), 2),
                ((T0 + timedelta(seconds=3600), 3), None),
            ):
                found = await uow.entries.timeline(task_id, after, limit)
                assert found == await faked.entries.timeline(task_id, after, limit)
        assert [e.id for e in await uow.entries.timeline(1, (T0, 1), 2)] == [2, 3]
        assert [e.id for e in await uow.entries.timeline(1, (T0 + timedelta(seconds=3600), 3), None)] == [4]


async def test_counts_by_action_and_resource(db: Database) -> None:
    await record(db, LOG)
    async with UnitsOfWork(SqlActivityUnitOfWork, db)(read_only=True) as uow:
        assert await uow.entries.counts(OWNER) == (
            {"created": 2, "updated": 1, "uploaded": 1, "shared": 1, "deleted": 1, "unshared": 1},
            {"task": 4, "comment": 2, "file": 1},
        )
        assert await uow.entries.counts(OTHER) == ({}, {})


def share(user_id: int, seconds: int, active: bool = True, task_id: int = 1) -> AccessChange:
    as_of = T0 + timedelta(seconds=seconds)
    return AccessChange(
        task_id, as_of, OWNER, viewer_user_id=user_id, viewer_active=active, permission="view"
    )


async def apply(db: Database, *changes: AccessChange) -> None:
    async with UnitsOfWork(SqlActivityUnitOfWork, db)() as uow:
        await uow.access.apply(access_update(changes))
        await uow.commit()


async def access(db: Database, task_id: int, user_id: int) -> TimelineAccess | None:
    async with UnitsOfWork(SqlActivityUnitOfWork, db)(read_only=True) as uow:
        return await uow.access.timeline_access(task_id, user_id)


async def test_access_of_owner_and_viewers(db: Database) -> None:
    await apply(db, AccessChange(1, T0, OWNER), share(VIEWER, 1), share(OTHER, 2, active=False))
    assert await access(db, 1, OWNER) == TimelineAccess(OWNER, deleted=False, shared=False)
    assert await access(db, 1, VIEWER) == TimelineAccess(OWNER, deleted=False, shared=True)
    assert await access(db, 1, OTHER) == TimelineAccess(OWNER, deleted=False, shared=False)
    assert await access(db, 2, OWNER) is None
    await apply(db, AccessChange(1, T0 + timedelta(seconds=9), OWNER, deleted=True))
    assert await access(db, 1, VIEWER) == TimelineAccess(OWNER, deleted=True, shared=True)


async def test_a_share_keeps_its_latest_change_across_batches_and_repeats(db: Database, fake) -> None:
    batches = [
        [AccessChange(1, T0, OWNER), share(VIEWER, 5, active=False)],
        [share(VIEWER, 3)],  # earlier than what is held: ignored
        [share(VIEWER, 5)],  # the same time: the held one stays
        [share(OTHER, 2, active=False), share(OTHER, 4), share(OTHER, 3, active=False)],
        [AccessChange(1, T0, OTHER), share(OTHER, 1)],  # the owner, as first told, stays
    ]
    async with fake.units() as faked:
        for batch in batches:
            await apply(db, *batch)
            await faked.access.apply(access_update(batch))
        await faked.commit()
    async with fake.units(read_only=True) as faked:
        for user_id in (OWNER, VIEWER, OTHER):
            assert await access(db, 1, user_id) == await faked.access.timeline_access(1, user_id)
    assert await access(db, 1, VIEWER) == TimelineAccess(OWNER, deleted=False, shared=False)
    assert await access(db, 1, OTHER) == TimelineAccess(OWNER, deleted=False, shared=True)


async def test_an_update_with_nothing_in_it_writes_nothing(db: Database) -> None:
    async with UnitsOfWork(SqlActivityUnitOfWork, db)() as uow:
        await uow.access.apply(AccessUpdate())
        await uow.entries.add_many([])
        await uow.commit()
    assert await access(db, 1, OWNER) is None


async def count(db: Database, table: str) -> int:
    async with db.read() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def test_leaving_without_commit_rolls_back(db: Database) -> None:
    async with UnitsOfWork(SqlActivityUnitOfWork, db)() as uow:
        await uow.entries.add_many(LOG[:2])
        await uow.access.apply(access_update([AccessChange(1, T0, OWNER)]))
    assert (await count(db, "entries"), await count(db, "task_owners")) == (0, 0)
    with pytest.raises(RuntimeError, match="read-only"):
        async with UnitsOfWork(SqlActivityUnitOfWork, db)(read_only=True) as uow:
            await uow.commit()


class Abort(Exception):
    pass


async def test_a_joined_unit_of_work_commits_with_its_owners_transaction(db: Database) -> None:
    with pytest.raises(Abort):
        async with db.transaction() as conn:
            async with UnitsOfWork(SqlActivityUnitOfWork, db).joining(conn) as uow:
                await uow.entries.add_many(LOG[:1])
                await uow.commit()
            assert conn.in_transaction()  # not committed by the unit of work
            raise Abort  # the owner rolls back
    assert await count(db, "entries") == 0
    async with db.transaction() as conn, UnitsOfWork(SqlActivityUnitOfWork, db).joining(conn) as uow:
        await uow.entries.add_many(LOG[:1])
        await uow.commit()
    assert await count(db, "entries") == 1


async def test_the_consumers_handler_records_a_batch_in_its_transaction(db: Database) -> None:
    task = pb.TaskSnapshot(id=1, title="t", priority="low", user_id=OWNER)
    share_snapshot = pb.ShareSnapshot(id=3, task_id=1, shared_with_user_id=VIEWER, permission="edit")
    events = [
        envelope(payload, "tasks", OWNER, actor_username="alice", task_id=1, task_owner_user_id=OWNER)
        for payload in (pb.TaskCreated(task=task), pb.TaskShared(share=share_snapshot))
    ]
    async with db.transaction() as conn:
        await RecordEvents(UnitsOfWork(SqlActivityUnitOfWork, db))(conn, events)
    async with UnitsOfWork(SqlActivityUnitOfWork, db)(read_only=True) as uow:
        timeline = await uow.entries.timeline(1, None, None)
    assert [(e.action, e.user_id, e.username) for e in timeline] == [
        ("created", OWNER, "alice"),
        ("shared", OWNER, "alice"),
    ]
    assert timeline[0].details == {  # as stored: the original's shape is rendered when read
        "task": {"id": 1, "title": "t", "completed": False, "priority": "low", "tags": [], "user_id": OWNER}
    }
    assert await access(db, 1, VIEWER) == TimelineAccess(OWNER, deleted=False, shared=True)
