"""Persistence of presigned uploads handed out and not yet confirmed (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_files.adapters.tables import pending_uploads
from tm_files.domain.files import PendingUpload


def _pending(row: Any) -> PendingUpload:
    return PendingUpload(
        upload_id=str(row.upload_id),
        blob_key=row.blob_key,
        task_id=row.task_id,
        user_id=row.user_id,
        original_filename=row.original_filename,
        content_type=row.content_type,
        declared_size=row.declared_size,
        expires_at=row.expires_at,
    )


class PendingUploadRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, upload: PendingUpload) -> None:
        await self._conn.execute(
            pending_uploads.insert().values(
                upload_id=upload.upload_id,
                blob_key=upload.blob_key,
                task_id=upload.task_id,
                user_id=upload.user_id,
                original_filename=upload.original_filename,
                content_type=upload.content_type,
                declared_size=upload.declared_size,
                expires_at=upload.expires_at,
            )
        )

    async def get(self, upload_id: str, user_id: int) -> PendingUpload | None:
        """The caller's upload (another user's is none)."""
        query = select(pending_uploads).where(
            pending_uploads.c.upload_id == upload_id, pending_uploads.c.user_id == user_id
        )
        row = (await self._conn.execute(query)).one_or_none()
        return None if row is None else _pending(row)

    async def take(self, upload_id: str, user_id: int) -> PendingUpload | None:
        """The caller's upload, removed (None if it is gone: taken by a concurrent confirm)."""
        statement = (
            pending_uploads.delete()
            .where(pending_uploads.c.upload_id == upload_id, pending_uploads.c.user_id == user_id)
            .returning(pending_uploads)
        )
        row = (await self._conn.execute(statement)).one_or_none()
        return None if row is None else _pending(row)

    async def take_expired(self, now: datetime) -> list[str]:
        """Forget the uploads that expired before `now`: the keys of their objects."""
        statement = (
            pending_uploads.delete()
            .where(pending_uploads.c.expires_at < now)
            .returning(pending_uploads.c.blob_key)
        )
        return list(await self._conn.scalars(statement))
