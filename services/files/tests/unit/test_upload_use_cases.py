"""Uploads against the in-memory files service (conftest.py): the three ways the bytes arrive
(multipart, raw body, gRPC chunks, read by adapters/uploads.py as the entry points do), the limits,
names and types, who may upload, the event, and an upload that races the task's deletion."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tm_common.errors import InvalidArgument, NotFound, PermissionDenied
from tm_files.adapters import uploads
from tm_files.domain.files import FileMeta, Incoming
from tm_files.service import files

OWNER, EDITOR, VIEWER, STRANGER = 1001, 1002, 1003, 1004
PDF = b"%PDF-1.7\nsome pdf bytes"


@pytest.fixture
def task(fake) -> int:  # type: ignore[no-untyped-def]
    """A task of OWNER shared with EDITOR (edit) and VIEWER (view)."""
    task_id = fake.task(OWNER, "Quarterly report")
    fake.share(task_id, EDITOR, "edit")
    fake.share(task_id, VIEWER, "view")
    return task_id


def never() -> Callable[[], Awaitable[Incoming]]:
    async def receive() -> Incoming:
        raise AssertionError("the bytes were taken in although the upload was refused up front")

    return receive


def given(fake, data: bytes, filename: str | None = "notes.txt", kind: str | None = None):  # type: ignore[no-untyped-def]
    async def receive() -> Incoming:
        return fake.incoming(data, filename, kind)

    return receive


async def upload(
    fake, user: int, task_id: int, data: bytes, filename: str | None = "notes.txt", **more
) -> FileMeta:  # type: ignore[no-untyped-def]
    kind = more.pop("kind", None)
    return await files.upload(
        fake.deps, user, task_id, more.pop("up_front", None), None, given(fake, data, filename, kind)
    )


def nothing_stored(fake) -> None:  # type: ignore[no-untyped-def]
    assert fake.state.files == {}
    assert fake.blobs.objects == {}
    assert fake.events() == []


# -- the three ways in ---------------------------------------------------------------------


def multipart(data: bytes, filename: str, kind: str) -> Callable[[], Awaitable[Incoming]]:
    request = httpx.Request("POST", "http://files/", files={"file": (filename, data, kind)})
    body, content_type = request.read(), request.headers["content-type"]

    async def receive() -> Incoming:
        return uploads.from_body(body, content_type, None)

    return receive


def raw(data: bytes, filename: str, kind: str) -> Callable[[], Awaitable[Incoming]]:
    async def receive() -> Incoming:
        return uploads.from_body(data, kind, filename)

    return receive


def chunks(data: bytes, filename: str, kind: str, limit: int = 1000) -> Callable[[], Awaitable[Incoming]]:
    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    async def receive() -> Incoming:
        source, size = await uploads.from_chunks(stream(), limit)
        return Incoming(source, size, uploads.head_of(source), filename, kind)

    return receive


@pytest.mark.parametrize("way", [multipart, raw, chunks])
async def test_an_upload_stores_row_and_blob_and_tells_the_tasks_audience(fake, task, way) -> None:
    meta = await files.upload(fake.deps, EDITOR, task, None, None, way(PDF, "report.pdf", "application/pdf"))
    assert fake.state.files == {meta.id: meta}
    assert (meta.task_id, meta.original_filename, meta.file_size) == (task, "report.pdf", len(PDF))
    assert (meta.content_type, meta.uploaded_by_user_id) == ("application/pdf", EDITOR)
    stored = fake.blobs.objects[meta.blob_key]
    assert (stored.data, stored.content_type) == (PDF, "application/pdf")
    assert meta.blob_key.startswith("files/") and "report" not in meta.blob_key
    assert fake.state.locks == [task]  # the commit is serialised with the task's deletion
    [event] = fake.events()
    assert (event.type, event.actor_user_id, event.task_id) == ("file.uploaded", EDITOR, task)
    assert (event.task_owner_user_id, event.task_title) == (OWNER, "Quarterly report")
    assert list(event.audience_user_ids) == sorted([OWNER, EDITOR, VIEWER])
    snapshot = event.file_uploaded.file
    assert (snapshot.id, snapshot.original_filename, snapshot.uploaded_by_user_id) == (
        meta.id,
        "report.pdf",
        EDITOR,
    )
    assert (snapshot.file_size, snapshot.content_type) == (len(PDF), "application/pdf")


async def test_gRPC_chunks_past_the_limit_are_refused_as_they_arrive(fake, task) -> None:
    with pytest.raises(InvalidArgument, match="larger than the limit of 1000 bytes"):
        await files.upload(
            fake.deps, OWNER, task, "big.txt", None, chunks(b"x" * 1001, "big.txt", "text/plain")
        )
    nothing_stored(fake)


async def test_a_multipart_body_needs_one_part_named_file(fake, task) -> None:
    request = httpx.Request("POST", "http://files/", files={"other": ("a.txt", b"text", "text/plain")})
    body, content_type = request.read(), request.headers["content-type"]

    async def receive() -> Incoming:
        return uploads.from_body(body, content_type, None)

    with pytest.raises(InvalidArgument) as refused:
        await files.upload(fake.deps, OWNER, task, None, None, receive)
    assert set(refused.value.fields) == {"file"}
    nothing_stored(fake)


# -- who may upload ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "error"), [(OWNER, None), (EDITOR, None), (VIEWER, PermissionDenied), (STRANGER, NotFound)]
)
async def test_uploading_needs_edit(fake, task, user: int, error: type[Exception] | None) -> None:
    if error is None:
        await upload(fake, user, task, b"hello")
        assert fake.event_types() == ["file.uploaded"]
        return
    with pytest.raises(error):
        await files.upload(fake.deps, user, task, "notes.txt", None, never())
    nothing_stored(fake)


async def test_a_missing_task_and_a_strangers_task_answer_alike(fake, task) -> None:
    with pytest.raises(NotFound) as missing:
        await files.upload(fake.deps, STRANGER, 999_999, "notes.txt", None, never())
    with pytest.raises(NotFound) as hidden:
        await files.upload(fake.deps, STRANGER, task, "notes.txt", None, never())
    assert str(missing.value).replace("999999", "N") == str(hidden.value).replace(str(task), "N")


# -- limits, names and types ---------------------------------------------------------------


def fields(error: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return error.value.fields


async def test_a_name_and_size_given_up_front_are_checked_before_the_bytes_come_in(fake, task) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await files.upload(fake.deps, OWNER, task, "virus.exe", 5000, never())
    found = fields(refused)
    assert "'.exe' is not allowed" in found["filename"]
    assert found["file_size"] == "is 5000 bytes; the limit is 1000 bytes"
    nothing_stored(fake)


@pytest.mark.parametrize(
    ("data", "filename", "kind", "field", "says"),
    [
        (b"x" * 1001, "big.txt", None, "file", "is 1001 bytes; the limit is 1000 bytes"),
        (b"", "empty.txt", None, "file", "is empty"),
        (b"hello", None, None, "filename", "is required"),
        (b"hello", "  ", None, "filename", "is required"),
        (b"hello", "notes.exe", None, "filename", "not allowed"),
        (b"hello", "notes", None, "filename", "'(none)' is not allowed"),
        (b"<html>", "page.txt", "text/html", "content_type", "does not match a .txt file"),
        (b"not a png", "image.png", "image/png", "file", "the content is not a .png file"),
        (b"nul\x00byte", "notes.txt", None, "file", "must be text"),
    ],
)
async def test_what_the_bytes_show_is_checked(fake, task, data, filename, kind, field, says) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await upload(fake, OWNER, task, data, filename, kind=kind)
    assert says in fields(refused)[field]
    nothing_stored(fake)


async def test_the_stored_name_is_made_safe_and_the_type_is_the_extensions(fake, task) -> None:
    meta = await upload(
        fake, OWNER, task, b"hello", "../../etc/Notes\u0007.TXT", kind="application/octet-stream"
    )
    assert (meta.original_filename, meta.content_type) == ("Notes.TXT", "text/plain")
    assert fake.blobs.objects[meta.blob_key].content_type == "text/plain"


async def test_a_size_declared_up_front_must_be_the_size_received(fake, task) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await files.upload(fake.deps, OWNER, task, "notes.txt", 4, given(fake, b"hello"))
    assert fields(refused) == {"file_size": "4 declared, 5 received"}
    nothing_stored(fake)


# -- consistency ---------------------------------------------------------------------------


async def test_an_upload_that_races_the_tasks_deletion_leaves_nothing(fake, task) -> None:
    """The task is deleted (and its deletion applied here) while the bytes are coming in: the
    upload is refused at its commit, and its blob removed."""
    deleted = fake.task_deleted(task, OWNER)

    async def receive() -> Incoming:
        async with fake.consumer_unit() as uow:
            await files.on_task_deleted(uow, deleted)
        return fake.incoming(b"hello")

    with pytest.raises(NotFound, match=f"task {task} not found"):
        await files.upload(fake.deps, EDITOR, task, "notes.txt", None, receive)
    assert fake.state.deleted_tasks == {task}
    nothing_stored(fake)
    assert fake.state.locks == [task, task]  # the deletion's, then the upload's


async def test_a_failed_commit_removes_the_blob_it_wrote(fake, task) -> None:
    fake.commit_error = ConnectionError("the database went away")
    with pytest.raises(ConnectionError):
        await upload(fake, OWNER, task, b"hello")
    nothing_stored(fake)


async def test_the_source_is_closed_whatever_happens(fake, task) -> None:
    good, bad = fake.incoming(b"hello"), fake.incoming(b"", "empty.txt")

    async def receive_good() -> Incoming:
        return good

    async def receive_bad() -> Incoming:
        return bad

    await files.upload(fake.deps, OWNER, task, None, None, receive_good)
    with pytest.raises(InvalidArgument):
        await files.upload(fake.deps, OWNER, task, None, None, receive_bad)
    assert good.source.closed and bad.source.closed
