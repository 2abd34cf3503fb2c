"""Use cases of the files service. Every one asks the tasks service what the caller holds on the
task first: no access is a 404 (the caller must not learn the task exists), VIEW may list and
download, EDIT and OWNER also upload and delete.

Consistency of rows and blobs: an upload writes the blob, then commits the row (and its event);
if the commit fails the blob is removed, and if the process dies in between the sweeper removes
the blob once it is older than ORPHAN_BLOB_SECONDS. A delete commits the row's removal together
with a `blob_deletions` entry, then removes the blob; if it dies in between, the cleanup loop
finishes the job. So no row ever points to a blob that was removed on purpose, and no blob
outlives its row for long."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common import outbox
from tm_common.db import Database
from tm_common.errors import FailedPrecondition, InvalidArgument, NotFound, Problems, Unavailable
from tm_common.paging import PageTokens
from tm_files.adapters import events, file_store
from tm_files.adapters.blobs import BlobStore, S3BlobStore, new_key
from tm_files.adapters.tables import deleted_tasks
from tm_files.adapters.task_access import TaskAccess, TaskAccessClient
from tm_files.domain.content import HEAD_BYTES, content_disposition, content_type
from tm_files.domain.files import READERS, FileMeta, Limits, accept, check_name, check_size, may_change

log = logging.getLogger(__name__)
MAX_PAGE = 1000


@dataclass
class FilesDeps:
    db: Database
    blobs: BlobStore
    access: TaskAccessClient
    limits: Limits
    presign: timedelta
    tokens: PageTokens  # of the file list
    s3: S3BlobStore | None = None  # presigned URLs need S3


@dataclass
class Incoming:
    """An upload's bytes, already received into `source` (a file at any position)."""

    source: IO[bytes]
    size: int
    head: bytes
    filename: str | None
    declared_type: str | None


async def _task_lock(conn: AsyncConnection, task_id: int) -> None:
    """Serialises an upload's commit with the removal of the task's files (see on_task_deleted)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('files:task'), :t)"), {"t": task_id})


async def upload(
    deps: FilesDeps,
    user_id: int,
    task_id: int,
    filename: str | None,
    declared_size: int | None,
    receive: Callable[[], Awaitable[Incoming]],
) -> FileMeta:
    """Store an upload. Access, and the name and size when known up front, are checked before
    `receive` takes the bytes in; then everything is checked against the bytes themselves."""
    access = await deps.access.check(task_id, user_id)
    may_change(access.permission, task_id)
    problems = Problems()
    if filename is not None:
        check_name(filename, deps.limits, problems)
    if declared_size is not None:
        check_size(declared_size, deps.limits, problems, "file_size")
    problems.raise_if_any()
    incoming = await receive()
    try:
        accepted = accept(
            incoming.filename, incoming.declared_type, incoming.size, incoming.head, deps.limits
        )
        if declared_size is not None and declared_size != incoming.size:
            raise InvalidArgument.for_field(
                "file_size", f"{declared_size} declared, {incoming.size} received"
            )
        key = new_key()
        incoming.source.seek(0)
        await deps.blobs.put(key, incoming.source, accepted.content_type)
    finally:
        incoming.source.close()
    try:
        async with deps.db.transaction() as conn:
            await _task_lock(conn, task_id)
            if await conn.scalar(deleted_tasks.select().where(deleted_tasks.c.task_id == task_id)):
                raise NotFound(f"task {task_id} not found")  # deleted while we were uploading
            meta = await file_store.insert(
                conn, task_id, accepted.filename, accepted.size, accepted.content_type, key, user_id
            )
            await outbox.add(conn, _uploaded(user_id, meta, access))
    except BaseException:
        with contextlib.suppress(Exception):  # if this fails too, the sweeper removes it later
            await deps.blobs.delete(key)
        raise
    return meta


def _uploaded(user_id: int, meta: FileMeta, access: TaskAccess) -> EventEnvelope:
    return events.file_uploaded(user_id, meta, access.owner_user_id, access.task_title, access.audience)


async def list_files(
    deps: FilesDeps, user_id: int, task_id: int, page_size: int, after_id: int
) -> tuple[list[FileMeta], int]:
    """The task's files, oldest first, and the last id of this page (0 when it is the last)."""
    if not 0 <= page_size <= MAX_PAGE:
        raise InvalidArgument.for_field("page_size", f"must be 0 (all) to {MAX_PAGE}")
    await deps.access.check(task_id, user_id)  # any permission reads
    async with deps.db.read() as conn:
        found = await file_store.on_task(conn, task_id, after_id, page_size + 1 if page_size else None)
    if page_size and len(found) > page_size:
        return found[:page_size], found[page_size - 1].id
    return found, 0


async def _visible_file(deps: FilesDeps, user_id: int, file_id: int) -> tuple[FileMeta, TaskAccess]:
    async with deps.db.read() as conn:
        meta = await file_store.get(conn, file_id)
    if meta is None:
        raise NotFound(f"file {file_id} not found")
    try:
        access = await deps.access.check(meta.task_id, user_id)
    except NotFound:
        raise NotFound(f"file {file_id} not found") from None
    assert access.permission in READERS
    return meta, access


async def file_for_download(
    deps: FilesDeps, user_id: int, file_id: int
) -> tuple[FileMeta, AsyncIterator[bytes]]:
    """The file's metadata and its bytes in chunks."""
    meta, _ = await _visible_file(deps, user_id, file_id)
    return meta, _content(deps, meta)


async def _content(deps: FilesDeps, meta: FileMeta) -> AsyncIterator[bytes]:
    try:
        async for chunk in deps.blobs.read(meta.blob_key):
            yield chunk
    except FileNotFoundError:
        log.error("a file's blob is missing", extra={"file_id": meta.id, "blob_key": meta.blob_key})
        raise Unavailable(f"the content of file {meta.id} is missing; the operator has been told") from None


async def delete_file(deps: FilesDeps, user_id: int, file_id: int) -> None:
    meta, access = await _visible_file(deps, user_id, file_id)
    may_change(access.permission, meta.task_id)
    async with deps.db.transaction() as conn:
        deleted = await file_store.delete_file(conn, file_id)
        if deleted is None:
            raise NotFound(f"file {file_id} not found")  # deleted meanwhile
        event = events.file_deleted(
            user_id, deleted, access.owner_user_id, access.task_title, access.audience, "request"
        )
        await outbox.add(conn, event)
    await remove_blob(deps, meta.blob_key)


async def remove_blob(deps: FilesDeps, key: str) -> None:
    """Remove a blob whose deletion is committed, and forget the deletion (best effort: the
    cleanup loop retries what fails here)."""
    try:
        await deps.blobs.delete(key)
        async with deps.db.transaction() as conn:
            await file_store.blob_deleted(conn, key)
    except Exception as exc:
        log.warning("blob removal postponed", extra={"blob_key": key, "error": str(exc)[:200]})


async def on_task_deleted(conn: AsyncConnection, event: EventEnvelope) -> None:
    """Event handler: a deleted task's files go with it (their blobs right after, by the cleanup
    loop). Runs in the consumer's transaction, so applying the event twice does nothing twice."""
    if event.type != "task.deleted":
        return
    task_id = event.task_id
    await _task_lock(conn, task_id)
    await conn.execute(pg_insert(deleted_tasks).values(task_id=task_id).on_conflict_do_nothing())
    for meta in await file_store.delete_task_files(conn, task_id):
        deleted = events.file_deleted(
            event.actor_user_id,
            meta,
            event.task_owner_user_id,
            event.task_title,
            event.audience_user_ids,
            "task_deleted",
        )
        deleted.actor_username = event.actor_username  # no request here: the deleter's, from the event
        await outbox.add(conn, deleted)


# -- presigned transfers (S3 only) ---------------------------------------------------------


def _s3(deps: FilesDeps) -> S3BlobStore:
    if deps.s3 is None:
        raise FailedPrecondition(
            "presigned URLs need the S3 blob store (BLOB_STORE=s3); upload through the API"
        )
    return deps.s3


@dataclass(frozen=True)
class UploadUrl:
    upload_id: str
    url: str
    headers: dict[str, str]
    expires_at: datetime


async def create_upload_url(
    deps: FilesDeps, user_id: int, task_id: int, filename: str, declared_type: str | None, size: int
) -> UploadUrl:
    s3 = _s3(deps)
    access = await deps.access.check(task_id, user_id)
    may_change(access.permission, task_id)
    problems = Problems()
    name = check_name(filename, deps.limits, problems)
    check_size(size, deps.limits, problems, "file_size")
    kind = content_type(name, declared_type, None, problems) if name else ""  # no bytes yet
    problems.raise_if_any()
    key, upload_id = new_key(), str(uuid.uuid4())
    expires_at = datetime.now(UTC) + deps.presign
    async with deps.db.transaction() as conn:
        await file_store.add_pending_upload(
            conn, upload_id, key, task_id, user_id, name, kind, size, expires_at
        )
    url, headers = s3.presigned_put(key, kind, deps.presign)
    return UploadUrl(upload_id, url, headers, expires_at)


async def confirm_upload(deps: FilesDeps, user_id: int, upload_id: str) -> FileMeta:
    """The file once its object is in the store and passes the checks; a refused object is
    removed and the upload forgotten. Confirming again returns the same file."""
    _s3(deps)
    try:
        uuid.UUID(upload_id)
    except ValueError:
        raise InvalidArgument.for_field("upload_id", "is not an upload id") from None
    async with deps.db.read() as conn:
        done = await file_store.by_upload(conn, upload_id)
        pending = None if done else await file_store.pending_upload(conn, upload_id, user_id)
    if done is not None:
        return done
    if pending is None or pending.expires_at < datetime.now(UTC):
        raise NotFound(f"upload {upload_id} not found or expired")
    size = await deps.blobs.size(pending.blob_key)
    if size is None:
        raise InvalidArgument.for_field("upload_id", "nothing was uploaded to the URL yet")
    head = b""
    async for chunk in deps.blobs.read(pending.blob_key):
        head = chunk[:HEAD_BYTES]
        break
    try:
        if size != pending.declared_size:
            raise InvalidArgument.for_field("file", f"is {size} bytes; {pending.declared_size} were declared")
        accepted = accept(pending.original_filename, pending.content_type, size, head, deps.limits)
    except InvalidArgument:
        async with deps.db.transaction() as conn:  # the refusal is final
            if await file_store.take_pending_upload(conn, upload_id, user_id) is not None:
                await file_store.schedule_blob_deletions(conn, [pending.blob_key])
        await remove_blob(deps, pending.blob_key)
        raise
    access = await deps.access.check(pending.task_id, user_id)
    may_change(access.permission, pending.task_id)
    async with deps.db.transaction() as conn:
        await _task_lock(conn, pending.task_id)
        if await file_store.take_pending_upload(conn, upload_id, user_id) is None:
            meta = await file_store.by_upload(conn, upload_id)  # confirmed concurrently
            if meta is None:
                raise NotFound(f"upload {upload_id} not found or expired")
            return meta
        meta = await file_store.insert(
            conn,
            pending.task_id,
            accepted.filename,
            size,
            accepted.content_type,
            pending.blob_key,
            user_id,
            upload_id,
        )
        await outbox.add(conn, _uploaded(user_id, meta, access))
    return meta


async def create_download_url(deps: FilesDeps, user_id: int, file_id: int) -> tuple[str, datetime]:
    s3 = _s3(deps)
    meta, _ = await _visible_file(deps, user_id, file_id)
    url = s3.presigned_get(meta.blob_key, content_disposition(meta.original_filename), deps.presign)
    return url, datetime.now(UTC) + deps.presign
