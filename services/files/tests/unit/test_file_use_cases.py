"""Listing, downloading and deleting files, and removing a deleted task's files, against the
in-memory files service (conftest.py): who may do what, what changes, and the events committed
(and that a refusal changes nothing and commits none)."""

from __future__ import annotations

import pytest

from tm_common.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from tm_files.service import cleanup, files

OWNER, EDITOR, VIEWER, STRANGER = 1001, 1002, 1003, 1004


@pytest.fixture
def task(fake) -> int:  # type: ignore[no-untyped-def]
    """A task of OWNER shared with EDITOR (edit) and VIEWER (view)."""
    task_id = fake.task(OWNER, "Quarterly report")
    fake.share(task_id, EDITOR, "edit")
    fake.share(task_id, VIEWER, "view")
    return task_id


# -- listing -------------------------------------------------------------------------------


async def test_listing_pages_through_the_tasks_files_oldest_first(fake, task) -> None:
    made = [fake.file(task, OWNER, name=f"{n}.txt") for n in range(5)]
    fake.file(fake.task(OWNER), OWNER)  # another task's
    page, last = await files.list_files(fake.deps, VIEWER, task, 2, 0)
    assert (page, last) == (made[:2], made[1].id)
    page, last = await files.list_files(fake.deps, VIEWER, task, 2, last)
    assert (page, last) == (made[2:4], made[3].id)
    page, last = await files.list_files(fake.deps, VIEWER, task, 2, last)
    assert (page, last) == (made[4:], 0)
    assert await files.list_files(fake.deps, EDITOR, task, 0, 0) == (made, 0)  # 0: all
    assert await files.list_files(fake.deps, OWNER, task, 5, 0) == (made, 0)  # exactly one page
    assert fake.events() == []


async def test_an_empty_task_lists_nothing(fake, task) -> None:
    assert await files.list_files(fake.deps, OWNER, task, 10, 0) == ([], 0)


@pytest.mark.parametrize("size", [-1, files.MAX_PAGE + 1])
async def test_a_page_size_out_of_range_is_refused(fake, task, size: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await files.list_files(fake.deps, OWNER, task, size, 0)
    assert set(refused.value.fields) == {"page_size"}


async def test_a_stranger_cannot_list(fake, task) -> None:
    fake.file(task, OWNER)
    with pytest.raises(NotFound, match=f"task {task} not found"):
        await files.list_files(fake.deps, STRANGER, task, 0, 0)


# -- download ------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [OWNER, EDITOR, VIEWER])
async def test_anyone_with_access_downloads_the_exact_bytes_in_chunks(fake, task, user: int) -> None:
    stored = fake.file(task, OWNER, b"0123456789 bytes")
    meta, content = await files.file_for_download(fake.deps, user, stored.id)
    chunks = [chunk async for chunk in content]
    assert meta == stored
    assert b"".join(chunks) == b"0123456789 bytes" and len(chunks) > 1


async def test_a_strangers_file_and_a_missing_file_answer_alike(fake, task) -> None:
    stored = fake.file(task, OWNER)
    with pytest.raises(NotFound) as hidden:
        await files.file_for_download(fake.deps, STRANGER, stored.id)
    with pytest.raises(NotFound) as missing:
        await files.file_for_download(fake.deps, OWNER, 999_999)
    assert str(hidden.value).replace(str(stored.id), "N") == str(missing.value).replace("999999", "N")


async def test_a_file_whose_blob_is_lost_is_unavailable_not_empty(fake, task) -> None:
    stored = fake.file(task, OWNER)
    del fake.blobs.objects[stored.blob_key]
    _, content = await files.file_for_download(fake.deps, OWNER, stored.id)
    with pytest.raises(Unavailable, match=f"content of file {stored.id} is missing"):
        [chunk async for chunk in content]


# -- delete --------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [OWNER, EDITOR])
async def test_a_delete_removes_row_and_blob_and_tells_the_audience(fake, task, user: int) -> None:
    stored, kept = fake.file(task, OWNER), fake.file(task, OWNER)
    await files.delete_file(fake.deps, user, stored.id)
    assert fake.state.files == {kept.id: kept}
    assert stored.blob_key not in fake.blobs.objects and kept.blob_key in fake.blobs.objects
    assert fake.state.removals == {}  # done, so forgotten
    [event] = fake.events()
    assert (event.type, event.actor_user_id, event.task_id) == ("file.deleted", user, task)
    assert (event.file_deleted.cause, event.file_deleted.file.id) == ("request", stored.id)
    assert event.file_deleted.file.uploaded_by_user_id == OWNER
    assert (event.task_owner_user_id, event.task_title) == (OWNER, "Quarterly report")
    assert list(event.audience_user_ids) == sorted([OWNER, EDITOR, VIEWER])


@pytest.mark.parametrize(("user", "error"), [(VIEWER, PermissionDenied), (STRANGER, NotFound)])
async def test_deleting_needs_edit(fake, task, user: int, error: type[Exception]) -> None:
    stored = fake.file(task, OWNER)
    with pytest.raises(error):
        await files.delete_file(fake.deps, user, stored.id)
    assert fake.state.files == {stored.id: stored}
    assert stored.blob_key in fake.blobs.objects
    assert fake.events() == [] and fake.state.removals == {}


async def test_deleting_a_missing_file_is_not_found(fake, task) -> None:
    with pytest.raises(NotFound, match="file 999999 not found"):
        await files.delete_file(fake.deps, OWNER, 999_999)


async def test_with_the_store_down_a_delete_commits_and_the_cleanup_loop_finishes_it(fake, task) -> None:
    stored = fake.file(task, OWNER)
    fake.blobs.failing = True
    await files.delete_file(fake.deps, OWNER, stored.id)
    assert fake.state.files == {} and fake.event_types() == ["file.deleted"]
    assert list(fake.state.removals) == [stored.blob_key]  # scheduled with the row's delete
    assert await cleanup.remove_scheduled_blobs(fake.deps) == 1  # still down: kept for later
    assert list(fake.state.removals) == [stored.blob_key]
    fake.blobs.failing = False
    assert await cleanup.remove_scheduled_blobs(fake.deps) == 1
    assert fake.state.removals == {} and stored.blob_key not in fake.blobs.objects


# -- a deleted task ------------------------------------------------------------------------


async def test_a_deleted_tasks_files_go_with_it(fake, task) -> None:
    gone = [fake.file(task, EDITOR, name="a.txt"), fake.file(task, OWNER, name="b.txt")]
    other = fake.file(fake.task(OWNER), OWNER)
    deleted = fake.task_deleted(task, OWNER, "owner-name")
    async with fake.consumer_unit() as uow:
        await files.on_task_deleted(uow, deleted)
    assert fake.state.files == {other.id: other}
    assert fake.state.deleted_tasks == {task}
    assert set(fake.state.removals) == {meta.blob_key for meta in gone}  # for the cleanup loop
    events = fake.events()
    assert [e.type for e in events] == ["file.deleted", "file.deleted"]
    assert [e.file_deleted.file.id for e in events] == [meta.id for meta in gone]
    for event in events:
        assert (event.file_deleted.cause, event.task_id, event.task_title) == (
            "task_deleted",
            task,
            "Quarterly report",
        )
        assert (event.actor_user_id, event.actor_username) == (OWNER, "owner-name")
        assert event.task_owner_user_id == OWNER
        assert list(event.audience_user_ids) == sorted([OWNER, EDITOR, VIEWER])
    assert [e.file_deleted.file.uploaded_by_user_id for e in events] == [EDITOR, OWNER]
    assert await cleanup.remove_scheduled_blobs(fake.deps) == 2
    assert set(fake.blobs.objects) == {other.blob_key}


async def test_a_deleted_task_without_files_is_only_remembered(fake, task) -> None:
    async with fake.consumer_unit() as uow:
        await files.on_task_deleted(uow, fake.task_deleted(task, OWNER))
    assert fake.state.deleted_tasks == {task}
    assert fake.events() == [] and fake.state.removals == {}


async def test_other_events_are_ignored(fake, task) -> None:
    stored = fake.file(task, OWNER)
    event = fake.task_deleted(task, OWNER)
    event.type = "task.updated"
    async with fake.consumer_unit() as uow:
        await files.on_task_deleted(uow, event)
    assert fake.state.files == {stored.id: stored}
    assert fake.state.deleted_tasks == set() and fake.events() == []
