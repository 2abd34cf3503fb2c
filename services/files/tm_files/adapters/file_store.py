"""Persistence of file metadata, presigned uploads and pending blob deletions (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_files.adapters.tables import blob_deletions, files, pending_uploads
from tm_files.domain.files import FileMeta


def _meta(row: Any) -> FileMeta:
    return FileMeta(
        id=row.id,
        task_id=row.task_id,
        original_filename=row.original_filename,
        file_size=row.file_size,
        content_type=row.content_type,
        blob_key=row.blob_key,
        uploaded_by_user_id=row.uploaded_by_user_id,
        uploaded_at=row.uploaded_at,
    )


async def insert(
    conn: AsyncConnection,
    task_id: int,
    filename: str,
    size: int,
    content_type: str,
    blob_key: str,
    user_id: int,
    upload_id: str | None = None,
) -> FileMeta:
    statement = (
        files.insert()
        .values(
            task_id=task_id,
            original_filename=filename,
            file_size=size,
            content_type=content_type,
            blob_key=blob_key,
            uploaded_by_user_id=user_id,
            upload_id=upload_id,
        )
        .returning(files)
    )
    return _meta((await conn.execute(statement)).one())


async def get(conn: AsyncConnection, file_id: int) -> FileMeta | None:
    row = (await conn.execute(select(files).where(files.c.id == file_id))).one_or_none()
    return None if row is None else _meta(row)


async def by_upload(conn: AsyncConnection, upload_id: str) -> FileMeta | None:
    row = (await conn.execute(select(files).where(files.c.upload_id == upload_id))).one_or_none()
    return None if row is None else _meta(row)


async def on_task(conn: AsyncConnection, task_id: int, after_id: int, limit: int | None) -> list[FileMeta]:
    """A task's files, oldest first, after file id `after_id`."""
    query = select(files).where(files.c.task_id == task_id, files.c.id > after_id).order_by(files.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [_meta(row) for row in await conn.execute(query)]


async def delete_file(conn: AsyncConnection, file_id: int) -> FileMeta | None:
    """Delete the row and schedule its blob's removal, in the caller's transaction."""
    row = (await conn.execute(files.delete().where(files.c.id == file_id).returning(files))).one_or_none()
    if row is None:
        return None
    await schedule_blob_deletions(conn, [row.blob_key])
    return _meta(row)


async def delete_task_files(conn: AsyncConnection, task_id: int) -> list[FileMeta]:
    rows = (await conn.execute(files.delete().where(files.c.task_id == task_id).returning(files))).all()
    await schedule_blob_deletions(conn, [row.blob_key for row in rows])
    return [_meta(row) for row in rows]


async def schedule_blob_deletions(conn: AsyncConnection, keys: Iterable[str]) -> None:
    values = [{"blob_key": key} for key in keys]
    if values:
        await conn.execute(pg_insert(blob_deletions).values(values).on_conflict_do_nothing())


async def blob_deletions_due(conn: AsyncConnection, limit: int = 100) -> list[str]:
    query = select(blob_deletions.c.blob_key).order_by(blob_deletions.c.requested_at).limit(limit)
    return list(await conn.scalars(query))


async def blob_deleted(conn: AsyncConnection, key: str) -> None:
    await conn.execute(delete(blob_deletions).where(blob_deletions.c.blob_key == key))


async def referenced(conn: AsyncConnection, keys: list[str]) -> set[str]:
    """Which of these blob keys a file row or an unexpired presigned upload still needs."""
    in_files = select(files.c.blob_key).where(files.c.blob_key.in_(keys))
    pending = select(pending_uploads.c.blob_key).where(pending_uploads.c.blob_key.in_(keys))
    return set(await conn.scalars(in_files.union(pending)))


async def all_blob_keys(conn: AsyncConnection) -> list[tuple[int, str]]:
    return [(row.id, row.blob_key) for row in await conn.execute(select(files.c.id, files.c.blob_key))]


async def add_pending_upload(
    conn: AsyncConnection,
    upload_id: str,
    blob_key: str,
    task_id: int,
    user_id: int,
    filename: str,
    content_type: str,
    declared_size: int,
    expires_at: datetime,
) -> None:
    await conn.execute(
        pending_uploads.insert().values(
            upload_id=upload_id,
            blob_key=blob_key,
            task_id=task_id,
            user_id=user_id,
            original_filename=filename,
            content_type=content_type,
            declared_size=declared_size,
            expires_at=expires_at,
        )
    )


async def pending_upload(conn: AsyncConnection, upload_id: str, user_id: int) -> Any | None:
    query = select(pending_uploads).where(
        pending_uploads.c.upload_id == upload_id, pending_uploads.c.user_id == user_id
    )
    return (await conn.execute(query)).one_or_none()


async def take_pending_upload(conn: AsyncConnection, upload_id: str, user_id: int) -> Any | None:
    """The caller's presigned upload, removed (in the caller's transaction)."""
    statement = (
        pending_uploads.delete()
        .where(pending_uploads.c.upload_id == upload_id, pending_uploads.c.user_id == user_id)
        .returning(pending_uploads)
    )
    return (await conn.execute(statement)).one_or_none()


async def expired_pending_uploads(conn: AsyncConnection, now: datetime) -> list[str]:
    """Forget presigned uploads never confirmed; their objects are scheduled for removal."""
    statement = (
        pending_uploads.delete()
        .where(pending_uploads.c.expires_at < now)
        .returning(pending_uploads.c.blob_key)
    )
    keys = list(await conn.scalars(statement))
    await schedule_blob_deletions(conn, keys)
    return keys
