"""The files service's SQL adapters against a real Postgres (no stack): the repositories of the
unit of work (files, presigned uploads, blob keys, deleted tasks; the in-memory fakes the use-case
tests rely on held to the same answers), the task lock, the unit of work's commit and rollback,
and a use case run in an event consumer's transaction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from taskmanager.events.v1 import events_pb2 as pb
from tm_common.db import Database
from tm_common.events import envelope
from tm_common.uow import UnitsOfWork
from tm_files.adapters.unit_of_work import SqlFilesUnitOfWork
from tm_files.domain.files import FileMeta, PendingUpload
from tm_files.entrypoints.consumer import OnTaskDeleted
from tm_files.service.unit_of_work import FilesUnitOfWork, UnitOfWorkFactory

TASK, OTHER_TASK, OWNER, FRIEND = 7, 8, 10, 20


def key(n: int) -> str:
    return f"files/{n:032x}"


def pending(n: int, user_id: int = OWNER, expires_in: timedelta = timedelta(minutes=5)) -> PendingUpload:
    return PendingUpload(
        str(uuid.UUID(int=n)),
        key(1000 + n),
        TASK,
        user_id,
        f"p{n}.txt",
        "text/plain",
        5,
        datetime.now(UTC) + expires_in,
    )


async def add(uow: FilesUnitOfWork, n: int, task_id: int = TASK, upload_id: str | None = None) -> FileMeta:
    return await uow.files.add(task_id, f"{n}.txt", n, "text/plain", key(n), OWNER, upload_id)


async def outbox_types(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(text("SELECT event_type FROM outbox ORDER BY id"))).scalars())


def an_event(kind: str = "file.uploaded") -> pb.EventEnvelope:
    payload = pb.FileUploaded() if kind == "file.uploaded" else pb.FileDeleted()
    return envelope(payload, "tests", OWNER)


# -- files ---------------------------------------------------------------------------------


async def test_files_are_added_read_listed_and_deleted(db: Database) -> None:
    units = UnitsOfWork(SqlFilesUnitOfWork, db)
    async with units() as uow:
        made = [await add(uow, n) for n in range(1, 6)]
        other = await add(uow, 9, OTHER_TASK)
        await uow.commit()
    first = made[0]
    assert (first.task_id, first.original_filename, first.file_size, first.blob_key) == (
        TASK,
        "1.txt",
        1,
        key(1),
    )
    assert first.uploaded_at.tzinfo is not None and first.uploaded_by_user_id == OWNER
    async with units(read_only=True) as uow:
        assert await uow.files.get(first.id) == first
        assert await uow.files.get(999_999) is None
        assert await uow.files.on_task(TASK, 0, None) == made
        assert await uow.files.on_task(TASK, made[1].id, 2) == made[2:4]
        assert await uow.files.on_task(OTHER_TASK, 0, 10) == [other]
        assert await uow.files.blob_keys() == [(m.id, m.blob_key) for m in [*made, other]]
    async with units() as uow:
        assert await uow.files.delete(first.id) == first
        assert await uow.files.delete(first.id) is None
        assert await uow.files.delete_on_task(TASK) == made[1:]
        assert await uow.files.delete_on_task(TASK) == []
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.files.blob_keys() == [(other.id, other.blob_key)]


async def test_a_confirmed_upload_is_found_by_its_id_and_makes_one_file_only(db: Database) -> None:
    units, upload_id = UnitsOfWork(SqlFilesUnitOfWork, db), str(uuid.uuid4())
    async with units() as uow:
        made = await add(uow, 1, upload_id=upload_id)
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.files.by_upload(upload_id) == made
        assert await uow.files.by_upload(str(uuid.uuid4())) is None
    with pytest.raises(IntegrityError):
        async with units() as uow:
            await add(uow, 2, upload_id=upload_id)
    with pytest.raises(IntegrityError):  # nor two files of one blob
        async with units() as uow:
            await uow.files.add(TASK, "x.txt", 1, "text/plain", key(1), OWNER)


# -- presigned uploads, blob keys, deleted tasks -------------------------------------------


async def test_pending_uploads_are_their_makers_and_taken_once(db: Database) -> None:
    units = UnitsOfWork(SqlFilesUnitOfWork, db)
    mine, expired = pending(1), pending(2, expires_in=timedelta(seconds=-1))
    async with units() as uow:
        await uow.uploads.add(mine)
        await uow.uploads.add(expired)
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.uploads.get(mine.upload_id, OWNER) == mine
        assert await uow.uploads.get(mine.upload_id, FRIEND) is None
    async with units() as uow:
        assert await uow.uploads.take(mine.upload_id, FRIEND) is None
        assert await uow.uploads.take(mine.upload_id, OWNER) == mine
        assert await uow.uploads.take(mine.upload_id, OWNER) is None
        assert await uow.uploads.take_expired(datetime.now(UTC)) == [expired.blob_key]
        assert await uow.uploads.take_expired(datetime.now(UTC)) == []
        await uow.commit()


async def test_blob_keys_know_what_is_referenced_and_what_is_to_be_removed(db: Database) -> None:
    units = UnitsOfWork(SqlFilesUnitOfWork, db)
    upload = pending(3)
    async with units() as uow:
        await add(uow, 1)
        await uow.uploads.add(upload)
        await uow.blob_keys.schedule_removal([key(5)])
        await uow.commit()
    async with units() as uow:  # later (the time of a request is its transaction's)
        await uow.blob_keys.schedule_removal([key(6), key(5)])  # key(5) again: once
        await uow.blob_keys.schedule_removal([])
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.blob_keys.referenced([key(1), upload.blob_key, key(5), key(99)]) == {
            key(1),
            upload.blob_key,
        }
        assert await uow.blob_keys.removals_due() == [key(5), key(6)]  # in the order requested
        assert await uow.blob_keys.removals_due(limit=1) == [key(5)]
    async with units() as uow:
        await uow.blob_keys.removed(key(5))
        await uow.blob_keys.removed(key(5))
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.blob_keys.removals_due() == [key(6)]


async def test_deleted_tasks_are_remembered_once(db: Database) -> None:
    units = UnitsOfWork(SqlFilesUnitOfWork, db)
    async with units() as uow:
        assert not await uow.tasks.is_deleted(TASK)
        await uow.tasks.mark_deleted(TASK)
        await uow.tasks.mark_deleted(TASK)
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.tasks.is_deleted(TASK)
        assert not await uow.tasks.is_deleted(OTHER_TASK)


async def test_the_task_lock_serialises_transactions_of_one_task_only(db: Database) -> None:
    units = UnitsOfWork(SqlFilesUnitOfWork, db)

    async def lock(task_id: int) -> None:
        async with units() as uow:
            await uow.tasks.lock(task_id)
            await uow.commit()

    async with units() as holder:
        await holder.tasks.lock(TASK)
        await asyncio.wait_for(lock(OTHER_TASK), 5)  # another task's: no wait
        waiter = asyncio.create_task(lock(TASK))
        await asyncio.sleep(0.3)
        assert not waiter.done()
        await holder.commit()
    await asyncio.wait_for(waiter, 5)


# -- the unit of work ----------------------------------------------------------------------


async def test_a_unit_of_work_commits_its_events_with_its_change(db: Database) -> None:
    units = UnitsOfWork(SqlFilesUnitOfWork, db)
    async with units() as uow:
        made = await add(uow, 1)
        uow.publish(an_event(), None)
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.files.get(made.id) == made
    assert await outbox_types(db) == ["file.uploaded"]


async def test_leaving_without_commit_rolls_back_the_change_and_its_events(db: Database) -> None:
    units = UnitsOfWork(SqlFilesUnitOfWork, db)
    with pytest.raises(RuntimeError):
        async with units() as uow:
            await add(uow, 1)
            uow.publish(an_event())
            raise RuntimeError("the use case failed")
    async with units() as uow:
        await add(uow, 2)
        uow.publish(an_event())  # never committed
    async with units(read_only=True) as uow:
        assert await uow.files.blob_keys() == []
    assert await outbox_types(db) == []


async def test_a_read_only_unit_of_work_cannot_commit(db: Database) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        async with UnitsOfWork(SqlFilesUnitOfWork, db)(read_only=True) as uow:
            await uow.commit()


def task_deleted(task_id: int) -> pb.EventEnvelope:
    return envelope(
        pb.TaskDeleted(task=pb.TaskSnapshot(id=task_id, title="gone", user_id=OWNER)),
        "tasks",
        OWNER,
        actor_username="owner",
        task_id=task_id,
        task_owner_user_id=OWNER,
        task_title="gone",
        audience=[OWNER, FRIEND],
    )


async def test_a_task_deletion_is_applied_in_the_consumers_transaction(db: Database) -> None:
    units = UnitsOfWork(SqlFilesUnitOfWork, db)
    async with units() as uow:
        gone = [await add(uow, 1), await add(uow, 2)]
        kept = await add(uow, 3, OTHER_TASK)
        await uow.commit()
    handle = OnTaskDeleted(UnitsOfWork(SqlFilesUnitOfWork, db))
    async with db.transaction() as conn:  # the consumer's: it commits
        await handle(conn, task_deleted(TASK))
    async with units(read_only=True) as uow:
        assert await uow.files.blob_keys() == [(kept.id, kept.blob_key)]
        assert await uow.tasks.is_deleted(TASK)
        assert sorted(await uow.blob_keys.removals_due()) == sorted(m.blob_key for m in gone)
    assert await outbox_types(db) == ["file.deleted", "file.deleted"]


async def test_a_consumer_that_rolls_back_takes_the_deletion_and_its_events_with_it(db: Database) -> None:
    units = UnitsOfWork(SqlFilesUnitOfWork, db)
    async with units() as uow:
        made = await add(uow, 1)
        await uow.commit()
    handle = OnTaskDeleted(UnitsOfWork(SqlFilesUnitOfWork, db))
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await handle(conn, task_deleted(TASK))
            raise RuntimeError("a later event of the batch failed")
    async with units(read_only=True) as uow:
        assert await uow.files.get(made.id) == made
        assert not await uow.tasks.is_deleted(TASK)
    assert await outbox_types(db) == []


# -- the fakes give the same answers -------------------------------------------------------


async def scenario(units: UnitOfWorkFactory) -> list[Any]:
    """Observable answers of the repositories to one sequence of calls (ids and times left out)."""
    seen: list[Any] = []
    async with units() as uow:
        made = [await add(uow, n, TASK if n % 2 else OTHER_TASK) for n in range(1, 8)]
        await uow.uploads.add(pending(20))
        await uow.uploads.add(pending(21, expires_in=timedelta(seconds=-5)))
        await uow.blob_keys.schedule_removal([key(50), key(51)])
        await uow.commit()
    names = {m.id: m.original_filename for m in made}
    async with units() as uow:
        seen.append([names[m.id] for m in await uow.files.on_task(TASK, made[0].id, 2)])
        seen.append([m.original_filename for m in await uow.files.delete_on_task(OTHER_TASK)])
        seen.append(sorted(await uow.blob_keys.referenced([key(1), key(2), key(1020), key(1021), key(50)])))
        seen.append(await uow.uploads.take_expired(datetime.now(UTC)))
        seen.append(await uow.uploads.get(str(uuid.UUID(int=20)), FRIEND))
        seen.append(sorted(await uow.blob_keys.removals_due()))
        await uow.tasks.mark_deleted(TASK)
        seen.append((await uow.tasks.is_deleted(TASK), await uow.tasks.is_deleted(OTHER_TASK)))
        await uow.commit()
    async with units(read_only=True) as uow:
        seen.append([k for _, k in await uow.files.blob_keys()])
    return seen


async def test_the_in_memory_fakes_answer_as_the_sql_does(db: Database, fake) -> None:  # type: ignore[no-untyped-def]
    assert await scenario(fake.deps.uow) == await scenario(UnitsOfWork(SqlFilesUnitOfWork, db))
