"""The files service's unit of work on its database: files, presigned uploads, blob keys and
deleted tasks in one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tm_common.uow import SqlUnitOfWork
from tm_files.adapters.file_store import BlobKeyRepository, FileRepository
from tm_files.adapters.pending_store import PendingUploadRepository
from tm_files.adapters.task_store import TaskRepository


class SqlFilesUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.files = FileRepository(conn)
        self.uploads = PendingUploadRepository(conn)
        self.blob_keys = BlobKeyRepository(conn)
        self.tasks = TaskRepository(conn)
