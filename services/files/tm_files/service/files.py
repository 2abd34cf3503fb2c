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

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.errors import FailedPrecondition, InvalidArgument, NotFound, Problems, Unavailable
from tm_common.paging import PageTokens
from tm_files import metrics
from tm_files.adapters import events
from tm_files.domain.blobs import new_key
from tm_files.domain.content import HEAD_BYTES, content_disposition, content_type
from tm_files.domain.files import (
    READERS,
    FileMeta,
    Incoming,
    Limits,
    PendingUpload,
    TaskAccess,
    accept,
    check_name,
    check_size,
    may_change,
)
from tm_files.service.unit_of_work import (
    BlobStore,
    FilesUnitOfWork,
    PresignedUrls,
    TaskAccessChecker,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)
MAX_PAGE = 1000


@dataclass
class FilesDeps:
    uow: UnitOfWorkFactory  # the metadata: files, presigned uploads, blob keys, deleted tasks
    blobs: BlobStore  # the bytes
    access: TaskAccessChecker  # the tasks service's answer to "what may this user do with task T"
    limits: Limits
    presign: timedelta
    tokens: PageTokens  # of the file list
    s3: PresignedUrls | None = None  # presigned URLs need S3


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
        async with deps.uow() as uow:
            await _lock_live_task(uow, task_id)
            meta = await uow.files.add(
                task_id, accepted.filename, accepted.size, accepted.content_type, key, user_id
            )
            uow.publish(_uploaded(user_id, meta, access))
            await uow.commit()
    except BaseException:
        with contextlib.suppress(Exception):  # if this fails too, the sweeper removes it later
            await deps.blobs.delete(key)
        raise
    metrics.BYTES_IN.inc(meta.file_size)
    return meta


async def _lock_live_task(uow: FilesUnitOfWork, task_id: int) -> None:
    """Serialise this commit with the removal of the task's files (on_task_deleted), and refuse
    a task whose deletion was applied while the caller was uploading."""
    await uow.tasks.lock(task_id)
    if await uow.tasks.is_deleted(task_id):
        raise NotFound(f"task {task_id} not found")


def _uploaded(user_id: int, meta: FileMeta, access: TaskAccess) -> EventEnvelope:
    return events.file_uploaded(user_id, meta, access.owner_user_id, access.task_title, access.audience)


async def list_files(
    deps: FilesDeps, user_id: int, task_id: int, page_size: int, after_id: int
) -> tuple[list[FileMeta], int]:
    """The task's files, oldest first, and the last id of this page (0 when it is the last)."""
    if not 0 <= page_size <= MAX_PAGE:
        raise InvalidArgument.for_field("page_size", f"must be 0 (all) to {MAX_PAGE}")
    await deps.access.check(task_id, user_id)  # any permission reads
    async with deps.uow(read_only=True) as uow:
        found = await uow.files.on_task(task_id, after_id, page_size + 1 if page_size else None)
    if page_size and len(found) > page_size:
        return found[:page_size], found[page_size - 1].id
    return found, 0


async def _visible_file(deps: FilesDeps, user_id: int, file_id: int) -> tuple[FileMeta, TaskAccess]:
    async with deps.uow(read_only=True) as uow:
        meta = await uow.files.get(file_id)
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
            metrics.BYTES_OUT.inc(len(chunk))  # the caller took it: sent (or about to be)
    except FileNotFoundError:
        log.error("a file's blob is missing", extra={"file_id": meta.id, "blob_key": meta.blob_key})
        raise Unavailable(f"the content of file {meta.id} is missing; the operator has been told") from None


async def delete_file(deps: FilesDeps, user_id: int, file_id: int) -> None:
    meta, access = await _visible_file(deps, user_id, file_id)
    may_change(access.permission, meta.task_id)
    async with deps.uow() as uow:
        deleted = await uow.files.delete(file_id)
        if deleted is None:
            raise NotFound(f"file {file_id} not found")  # deleted meanwhile
        await uow.blob_keys.schedule_removal([deleted.blob_key])
        uow.publish(
            events.file_deleted(
                user_id, deleted, access.owner_user_id, access.task_title, access.audience, "request"
            )
        )
        await uow.commit()
    await remove_blob(deps, meta.blob_key)


async def remove_blob(deps: FilesDeps, key: str) -> None:
    """Remove a blob whose deletion is committed, and forget the deletion (best effort: the
    cleanup loop retries what fails here)."""
    try:
        await deps.blobs.delete(key)
        async with deps.uow() as uow:
            await uow.blob_keys.removed(key)
            await uow.commit()
    except Exception as exc:
        log.warning("blob removal postponed", extra={"blob_key": key, "error": str(exc)[:200]})


async def on_task_deleted(uow: FilesUnitOfWork, event: EventEnvelope) -> None:
    """Event handler: a deleted task's files go with it (their blobs right after, by the cleanup
    loop). Runs in the event consumer's transaction (`uow` joins it), so applying the event twice
    does nothing twice."""
    if event.type != "task.deleted":
        return
    task_id = event.task_id
    await uow.tasks.lock(task_id)
    await uow.tasks.mark_deleted(task_id)
    removed = await uow.files.delete_on_task(task_id)
    await uow.blob_keys.schedule_removal([meta.blob_key for meta in removed])
    uow.publish(
        *(
            events.file_deleted(
                event.actor_user_id,
                meta,
                event.task_owner_user_id,
                event.task_title,
                event.audience_user_ids,
                "task_deleted",
                actor_username=event.actor_username,  # no request here: the deleter's, from the event
            )
            for meta in removed
        )
    )
    await uow.commit()


# -- presigned transfers (S3 only) ---------------------------------------------------------


def _s3(deps: FilesDeps) -> PresignedUrls:
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
    pending = PendingUpload(
        upload_id=str(uuid.uuid4()),
        blob_key=new_key(),
        task_id=task_id,
        user_id=user_id,
        original_filename=name,
        content_type=kind,
        declared_size=size,
        expires_at=datetime.now(UTC) + deps.presign,
    )
    async with deps.uow() as uow:
        await uow.uploads.add(pending)
        await uow.commit()
    url, headers = s3.presigned_put(pending.blob_key, kind, deps.presign)
    return UploadUrl(pending.upload_id, url, headers, pending.expires_at)


async def confirm_upload(deps: FilesDeps, user_id: int, upload_id: str) -> FileMeta:
    """The file once its object is in the store and passes the checks; a refused object is
    removed and the upload forgotten. Confirming again returns the same file."""
    _s3(deps)
    try:
        uuid.UUID(upload_id)
    except ValueError:
        raise InvalidArgument.for_field("upload_id", "is not an upload id") from None
    async with deps.uow(read_only=True) as uow:
        done = await uow.files.by_upload(upload_id)
        pending = None if done else await uow.uploads.get(upload_id, user_id)
    if done is not None:
        return done
    if pending is None or pending.expires_at < datetime.now(UTC):
        raise NotFound(f"upload {upload_id} not found or expired")
    size = await deps.blobs.size(pending.blob_key)
    if size is None:
        raise InvalidArgument.for_field("upload_id", "nothing was uploaded to the URL yet")
    head = await _head(deps.blobs, pending.blob_key)
    try:
        if size != pending.declared_size:
            raise InvalidArgument.for_field("file", f"is {size} bytes; {pending.declared_size} were declared")
        accepted = accept(pending.original_filename, pending.content_type, size, head, deps.limits)
    except InvalidArgument:
        async with deps.uow() as uow:  # the refusal is final
            if await uow.uploads.take(upload_id, user_id) is not None:
                await uow.blob_keys.schedule_removal([pending.blob_key])
            await uow.commit()
        await remove_blob(deps, pending.blob_key)
        raise
    access = await deps.access.check(pending.task_id, user_id)
    may_change(access.permission, pending.task_id)
    async with deps.uow() as uow:
        await _lock_live_task(uow, pending.task_id)
        if await uow.uploads.take(upload_id, user_id) is None:
            meta = await uow.files.by_upload(upload_id)  # confirmed concurrently
            if meta is None:
                raise NotFound(f"upload {upload_id} not found or expired")
            return meta
        meta = await uow.files.add(
            pending.task_id,
            accepted.filename,
            size,
            accepted.content_type,
            pending.blob_key,
            user_id,
            upload_id,
        )
        uow.publish(_uploaded(user_id, meta, access))
        await uow.commit()
    return meta


async def _head(blobs: BlobStore, key: str) -> bytes:
    """The object's first HEAD_BYTES (chunks may come shorter than that)."""
    head = b""
    async for chunk in blobs.read(key):
        head += chunk[: HEAD_BYTES - len(head)]
        if len(head) >= HEAD_BYTES:
            break
    return head


async def create_download_url(deps: FilesDeps, user_id: int, file_id: int) -> tuple[str, datetime]:
    s3 = _s3(deps)
    meta, _ = await _visible_file(deps, user_id, file_id)
    url = s3.presigned_get(meta.blob_key, content_disposition(meta.original_filename), deps.presign)
    return url, datetime.now(UTC) + deps.presign
