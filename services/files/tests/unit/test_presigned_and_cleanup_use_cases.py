"""Presigned transfers (with a fake of S3's URLs over the in-memory blob store, and without S3) and
the cleanup use cases (scheduled removals, the sweeper, dangling rows, the loop), against the
in-memory files service (conftest.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tm_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tm_files.service import cleanup, files

OWNER, EDITOR, VIEWER, STRANGER = 1001, 1002, 1003, 1004
PDF = b"%PDF-1.7\nsome pdf bytes"
BOUND = timedelta(minutes=10)


@pytest.fixture
def task(fake_s3) -> int:  # type: ignore[no-untyped-def]
    """A task of OWNER shared with EDITOR (edit) and VIEWER (view), in a service with S3."""
    task_id = fake_s3.task(OWNER, "Quarterly report")
    fake_s3.share(task_id, EDITOR, "edit")
    fake_s3.share(task_id, VIEWER, "view")
    return task_id


# -- without S3 ----------------------------------------------------------------------------


async def test_presigned_urls_need_s3_and_say_so_before_anything_else(fake) -> None:
    task = fake.task(OWNER)
    stored = fake.file(task, OWNER)
    calls = [
        files.create_upload_url(fake.deps, OWNER, task, "a.pdf", None, 10),
        files.confirm_upload(fake.deps, OWNER, str(uuid.uuid4())),
        files.create_download_url(fake.deps, OWNER, stored.id),
    ]
    for call in calls:
        with pytest.raises(FailedPrecondition, match="BLOB_STORE=s3"):
            await call
    assert fake.access.calls == 0 and fake.state.uploads == {} and fake.events() == []


# -- upload by URL -------------------------------------------------------------------------


async def test_an_upload_by_url_is_a_file_once_confirmed(fake_s3, task) -> None:
    made = await files.create_upload_url(fake_s3.deps, EDITOR, task, "../Report é.pdf", None, len(PDF))
    [pending] = fake_s3.state.uploads.values()
    assert (pending.upload_id, pending.task_id, pending.user_id) == (made.upload_id, task, EDITOR)
    assert (pending.original_filename, pending.content_type, pending.declared_size) == (
        "Report é.pdf",
        "application/pdf",
        len(PDF),
    )
    assert pending.expires_at == made.expires_at
    assert made.expires_at - datetime.now(UTC) > timedelta(minutes=14)
    assert made.headers == {"Content-Type": "application/pdf"}
    assert fake_s3.events() == []  # nothing to tell until it is a file
    key = fake_s3.client_put(made.url, PDF)
    assert key == pending.blob_key

    meta = await files.confirm_upload(fake_s3.deps, EDITOR, made.upload_id)
    assert fake_s3.state.files == {meta.id: meta} and fake_s3.state.uploads == {}
    assert (meta.original_filename, meta.file_size, meta.content_type) == (
        "Report é.pdf",
        len(PDF),
        "application/pdf",
    )
    assert (meta.blob_key, meta.uploaded_by_user_id) == (key, EDITOR)
    [event] = fake_s3.events()
    assert (event.type, event.actor_user_id, event.file_uploaded.file.id) == (
        "file.uploaded",
        EDITOR,
        meta.id,
    )
    assert list(event.audience_user_ids) == sorted([OWNER, EDITOR, VIEWER])
    # Confirming again (a retry) is the same file, told once.
    assert await files.confirm_upload(fake_s3.deps, EDITOR, made.upload_id) == meta
    assert fake_s3.event_types() == ["file.uploaded"]


@pytest.mark.parametrize(("user", "error"), [(VIEWER, PermissionDenied), (STRANGER, NotFound)])
async def test_an_upload_url_needs_edit(fake_s3, task, user: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        await files.create_upload_url(fake_s3.deps, user, task, "a.pdf", None, 10)
    assert fake_s3.state.uploads == {}


@pytest.mark.parametrize(
    ("filename", "kind", "size", "fields"),
    [
        ("a.exe", None, 10, {"filename"}),
        ("a.pdf", None, 1001, {"file_size"}),
        ("a.pdf", None, 0, {"file_size"}),
        ("a.pdf", "text/html", 10, {"content_type"}),
        ("", None, 2000, {"filename", "file_size"}),
    ],
)
async def test_an_upload_url_checks_what_it_can_before_the_bytes(
    fake_s3, task, filename, kind, size, fields
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await files.create_upload_url(fake_s3.deps, OWNER, task, filename, kind, size)
    assert set(refused.value.fields) == fields
    assert fake_s3.state.uploads == {}


async def test_confirming_before_the_put_is_refused_and_the_upload_kept(fake_s3, task) -> None:
    made = await files.create_upload_url(fake_s3.deps, OWNER, task, "a.pdf", None, len(PDF))
    with pytest.raises(InvalidArgument, match="nothing was uploaded"):
        await files.confirm_upload(fake_s3.deps, OWNER, made.upload_id)
    assert list(fake_s3.state.uploads) == [made.upload_id]
    fake_s3.client_put(made.url, PDF)
    assert (await files.confirm_upload(fake_s3.deps, OWNER, made.upload_id)).file_size == len(PDF)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (PDF + b"more", "bytes; 23 were declared"),
        (b"%NOT-A-PDF" + b"x" * 13, "the content is not a .pdf file"),
    ],
)
async def test_a_refused_object_is_removed_and_the_upload_forgotten(
    fake_s3, task, data: bytes, says: str
) -> None:
    made = await files.create_upload_url(fake_s3.deps, OWNER, task, "a.pdf", None, len(PDF))
    key = fake_s3.client_put(made.url, data)
    with pytest.raises(InvalidArgument, match=says):
        await files.confirm_upload(fake_s3.deps, OWNER, made.upload_id)
    assert key not in fake_s3.blobs.objects
    assert fake_s3.state.uploads == {} and fake_s3.state.removals == {} and fake_s3.state.files == {}
    with pytest.raises(NotFound):  # the refusal is final
        await files.confirm_upload(fake_s3.deps, OWNER, made.upload_id)
    assert fake_s3.events() == []


async def test_only_its_maker_confirms_an_upload_before_it_expires(fake_s3, task) -> None:
    made = await files.create_upload_url(fake_s3.deps, OWNER, task, "a.pdf", None, len(PDF))
    fake_s3.client_put(made.url, PDF)
    with pytest.raises(NotFound, match="not found or expired"):
        await files.confirm_upload(fake_s3.deps, EDITOR, made.upload_id)
    expired = fake_s3.pending(task, OWNER, expires_in=timedelta(seconds=-1))
    fake_s3.client_put(f"https://s3.test/bucket/{expired.blob_key}", b"hello")
    with pytest.raises(NotFound, match="not found or expired"):
        await files.confirm_upload(fake_s3.deps, OWNER, expired.upload_id)
    with pytest.raises(InvalidArgument) as malformed:
        await files.confirm_upload(fake_s3.deps, OWNER, "not-a-uuid")
    assert set(malformed.value.fields) == {"upload_id"}
    assert fake_s3.state.files == {} and fake_s3.events() == []


async def test_confirming_needs_edit_still(fake_s3, task) -> None:
    made = await files.create_upload_url(fake_s3.deps, EDITOR, task, "a.pdf", None, len(PDF))
    fake_s3.client_put(made.url, PDF)
    fake_s3.share(task, EDITOR, "view")  # demoted in between
    with pytest.raises(PermissionDenied):
        await files.confirm_upload(fake_s3.deps, EDITOR, made.upload_id)
    assert fake_s3.state.files == {} and list(fake_s3.state.uploads) == [made.upload_id]


async def test_a_confirm_that_races_the_tasks_deletion_makes_no_file(fake_s3, task) -> None:
    made = await files.create_upload_url(fake_s3.deps, OWNER, task, "a.pdf", None, len(PDF))
    fake_s3.client_put(made.url, PDF)
    async with fake_s3.consumer_unit() as uow:  # applied here, the tasks service not yet asked
        await files.on_task_deleted(uow, fake_s3.task_deleted(task, OWNER))
    with pytest.raises(NotFound, match=f"task {task} not found"):
        await files.confirm_upload(fake_s3.deps, OWNER, made.upload_id)
    assert fake_s3.state.files == {} and fake_s3.events() == []


# -- download by URL -----------------------------------------------------------------------


async def test_a_download_url_names_the_object_and_the_file_name(fake_s3, task) -> None:
    stored = fake_s3.file(task, OWNER, name="rapport é.txt")
    url, expires_at = await files.create_download_url(fake_s3.deps, VIEWER, stored.id)
    assert stored.blob_key in url and "filename*=UTF-8''rapport%20%C3%A9.txt" in url
    assert expires_at - datetime.now(UTC) > timedelta(minutes=14)
    with pytest.raises(NotFound, match=f"file {stored.id} not found"):
        await files.create_download_url(fake_s3.deps, STRANGER, stored.id)


# -- cleanup -------------------------------------------------------------------------------


async def test_the_sweeper_removes_only_old_blobs_that_nothing_needs(fake) -> None:
    task = fake.task(OWNER)
    with_row = fake.file(task, OWNER)
    pending = fake.pending(task, OWNER)
    fake.client_put(f"https://s3.test/bucket/{pending.blob_key}", b"hello")
    for key, name in [
        ("files/" + "a" * 32, "old"),
        ("files/" + "b" * 32, "just old"),
        ("files/" + "c" * 32, "young"),
    ]:
        fake.client_put(f"https://s3.test/bucket/{key}", name.encode())
    fake.blobs.age("files/" + "a" * 32, BOUND * 2)
    fake.blobs.age("files/" + "b" * 32, BOUND + timedelta(seconds=5))
    fake.blobs.age("files/" + "c" * 32, BOUND - timedelta(seconds=30))
    fake.blobs.age(with_row.blob_key, BOUND * 100)
    fake.blobs.age(pending.blob_key, BOUND * 2)
    assert await cleanup.sweep(fake.deps, BOUND) == 2
    assert set(fake.blobs.objects) == {"files/" + "c" * 32, with_row.blob_key, pending.blob_key}
    assert await cleanup.sweep(fake.deps, BOUND) == 0
    assert fake.state.uploads == {pending.upload_id: pending} and fake.events() == []


async def test_an_expired_presigned_upload_stops_protecting_its_object(fake) -> None:
    pending = fake.pending(fake.task(OWNER), OWNER, expires_in=timedelta(seconds=-1))
    fake.client_put(f"https://s3.test/bucket/{pending.blob_key}", b"hello")
    fake.blobs.age(pending.blob_key, BOUND * 2)
    assert await cleanup.sweep(fake.deps, BOUND) == 1
    assert fake.state.uploads == {} and fake.blobs.objects == {}
    assert list(fake.state.removals) == [pending.blob_key]  # scheduled when it expired
    assert await cleanup.remove_scheduled_blobs(fake.deps) == 1
    assert fake.state.removals == {}


async def test_a_young_expired_upload_is_removed_by_its_schedule(fake) -> None:
    pending = fake.pending(fake.task(OWNER), OWNER, expires_in=timedelta(seconds=-1))
    fake.client_put(f"https://s3.test/bucket/{pending.blob_key}", b"hello")
    assert await cleanup.sweep(fake.deps, BOUND) == 0
    assert list(fake.state.removals) == [pending.blob_key]
    await cleanup.remove_scheduled_blobs(fake.deps)
    assert fake.blobs.objects == {} and fake.state.removals == {}


async def test_dangling_rows_are_those_whose_blob_is_missing(fake) -> None:
    task = fake.task(OWNER)
    fake.file(task, OWNER)  # kept, with its blob
    lost = fake.file(task, OWNER)
    del fake.blobs.objects[lost.blob_key]
    assert await cleanup.dangling_rows(fake.deps) == [(lost.id, lost.blob_key)]


async def test_the_cleanup_loop_outlives_an_outage_of_the_store(fake) -> None:
    stored = fake.file(fake.task(OWNER), OWNER)
    fake.state.removals[stored.blob_key] = datetime.now(UTC)
    fake.blobs.failing = True
    loop = asyncio.create_task(cleanup.cleanup_loop(fake.deps, BOUND, sweep_every=0.01, every=0.005))
    try:
        await asyncio.sleep(0.05)  # several rounds, every one failing
        assert not loop.done()
        assert stored.blob_key in fake.state.removals and stored.blob_key in fake.blobs.objects
        fake.blobs.failing = False
        for _ in range(200):  # rounds of the loop, not a clock: each sleeps `every`
            if not fake.state.removals:
                break
            await asyncio.sleep(0.005)
        assert fake.state.removals == {} and stored.blob_key not in fake.blobs.objects
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
