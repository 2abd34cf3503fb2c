"""Persistence of file metadata and of the blobs to remove (SQLAlchemy Core), in a unit of
work's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_files.adapters.tables import blob_deletions, files, pending_uploads
from tm_files.domain.files import FileMeta


def file_from_row(row: Any) -> FileMeta:
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


class FileRepository:
    """The files' metadata rows."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self,
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
        return file_from_row((await self._conn.execute(statement)).one())

    async def get(self, file_id: int) -> FileMeta | None:
        row = (await self._conn.execute(select(files).where(files.c.id == file_id))).one_or_none()
        return None if row is None else file_from_row(row)

    async def by_upload(self, upload_id: str) -> FileMeta | None:
        """The file a presigned upload became, once confirmed."""
        query = select(files).where(files.c.upload_id == upload_id)
        row = (await self._conn.execute(query)).one_or_none()
        return None if row is None else file_from_row(row)

    async def on_task(self, task_id: int, after_id: int, limit: int | None) -> list[FileMeta]:
        """A task's files, oldest first, after file id `after_id`."""
        query = select(files).where(files.c.task_id == task_id, files.c.id > after_id).order_by(files.c.id)
        if limit is not None:
            query = query.limit(limit)
        return [file_from_row(row) for row in await self._conn.execute(query)]

    async def delete(self, file_id: int) -> FileMeta | None:
        """The row, deleted (None if there was none)."""
        statement = files.delete().where(files.c.id == file_id).returning(files)
        row = (await self._conn.execute(statement)).one_or_none()
        return None if row is None else file_from_row(row)

    async def delete_on_task(self, task_id: int) -> list[FileMeta]:
        """Every file of the task, deleted, oldest first."""
        statement = files.delete().where(files.c.task_id == task_id).returning(files)
        rows = (await self._conn.execute(statement)).all()
        return sorted((file_from_row(row) for row in rows), key=lambda meta: meta.id)

    async def blob_keys(self) -> list[tuple[int, str]]:
        """(file id, blob key) of every file."""
        query = select(files.c.id, files.c.blob_key).order_by(files.c.id)
        return [(row.id, row.blob_key) for row in await self._conn.execute(query)]


class BlobKeyRepository:
    """Which blobs the rows still need, and the blobs whose rows are gone (`blob_deletions`:
    written in the transaction of the row's delete, removed once the blob is)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def referenced(self, keys: list[str]) -> set[str]:
        """Which of these keys a file or a presigned upload not yet expired still needs (one
        statement: one snapshot, so a confirm that moves a key from one to the other between
        two reads cannot make it look unneeded)."""
        in_files = select(files.c.blob_key).where(files.c.blob_key.in_(keys))
        pending = select(pending_uploads.c.blob_key).where(pending_uploads.c.blob_key.in_(keys))
        return set(await self._conn.scalars(in_files.union(pending)))

    async def schedule_removal(self, keys: Iterable[str]) -> None:
        values = [{"blob_key": key} for key in keys]
        if values:
            await self._conn.execute(pg_insert(blob_deletions).values(values).on_conflict_do_nothing())

    async def removals_due(self, limit: int = 100) -> list[str]:
        query = select(blob_deletions.c.blob_key).order_by(blob_deletions.c.requested_at).limit(limit)
        return list(await self._conn.scalars(query))

    async def removed(self, key: str) -> None:
        await self._conn.execute(delete(blob_deletions).where(blob_deletions.c.blob_key == key))
