"""The files service's unit of work on its database: files, presigned uploads, blob keys and
deleted tasks in one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.db import Database
from tm_common.uow import SqlUnitOfWork
from tm_files.adapters.file_store import BlobKeyRepository, FileRepository
from tm_files.adapters.pending_store import PendingUploadRepository
from tm_files.adapters.task_store import TaskRepository
from tm_files.service.unit_of_work import FilesUnitOfWork


class SqlFilesUnitOfWork(SqlUnitOfWork):
    def bind(self, conn: AsyncConnection) -> None:
        self.files = FileRepository(conn)
        self.uploads = PendingUploadRepository(conn)
        self.blob_keys = BlobKeyRepository(conn)
        self.tasks = TaskRepository(conn)


class UnitsOfWork:
    """Opens the units of work of the use cases, on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def __call__(self, read_only: bool = False) -> SqlFilesUnitOfWork:
        return SqlFilesUnitOfWork(self._db, read_only)


EventUseCase = Callable[[FilesUnitOfWork, EventEnvelope], Awaitable[None]]


def in_consumer_transaction(
    use_case: EventUseCase,
) -> Callable[[AsyncConnection, EventEnvelope], Awaitable[None]]:
    """An event consumer's handler (given the consumer's connection, in its transaction) that runs
    `use_case` on a unit of work joining that transaction: its events are written into it, and the
    consumer commits them with the event's mark as processed."""

    async def handle(conn: AsyncConnection, event: EventEnvelope) -> None:
        async with SqlFilesUnitOfWork.joining(conn) as uow:
            await use_case(uow, event)

    return handle
