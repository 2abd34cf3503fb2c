"""What the use cases of the files service work through: a unit of work with its repositories (the
metadata in Postgres), the blob store (the bytes), the tasks service's access check, and the
presigned URLs of S3. The real ones are in adapters/; the tests' in-memory fakes have the same shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from typing import IO, Any, Protocol, Self

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_files.domain.blobs import StoredBlob
from tm_files.domain.files import FileMeta, PendingUpload, TaskAccess


class FileRepository(Protocol):
    async def add(
        self,
        task_id: int,
        filename: str,
        size: int,
        content_type: str,
        blob_key: str,
        user_id: int,
        upload_id: str | None = None,
    ) -> FileMeta: ...
    async def get(self, file_id: int) -> FileMeta | None: ...
    async def by_upload(self, upload_id: str) -> FileMeta | None: ...
    async def on_task(self, task_id: int, after_id: int, limit: int | None) -> list[FileMeta]: ...
    async def delete(self, file_id: int) -> FileMeta | None: ...
    async def delete_on_task(self, task_id: int) -> list[FileMeta]: ...
    async def blob_keys(self) -> list[tuple[int, str]]: ...


class PendingUploadRepository(Protocol):
    async def add(self, upload: PendingUpload) -> None: ...
    async def get(self, upload_id: str, user_id: int) -> PendingUpload | None: ...
    async def take(self, upload_id: str, user_id: int) -> PendingUpload | None: ...
    async def take_expired(self, now: datetime) -> list[str]: ...


class BlobKeyRepository(Protocol):
    """Which blobs the rows still need, and which are to be removed from the store."""

    async def referenced(self, keys: list[str]) -> set[str]: ...
    async def schedule_removal(self, keys: Iterable[str]) -> None: ...
    async def removals_due(self, limit: int = 100) -> list[str]: ...
    async def removed(self, key: str) -> None: ...


class TaskRepository(Protocol):
    """The tasks as far as this service tracks them: whose deletion it has applied."""

    async def lock(self, task_id: int) -> None: ...
    async def is_deleted(self, task_id: int) -> bool: ...
    async def mark_deleted(self, task_id: int) -> None: ...


class FilesUnitOfWork(Protocol):
    @property
    def files(self) -> FileRepository: ...
    @property
    def uploads(self) -> PendingUploadRepository: ...
    @property
    def blob_keys(self) -> BlobKeyRepository: ...
    @property
    def tasks(self) -> TaskRepository: ...

    def publish(self, *events: EventEnvelope | None) -> None: ...
    async def commit(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, read_only: bool = False) -> FilesUnitOfWork: ...

    # `conn`: the event consumer's connection, in its transaction (opaque here: no SQL in service/).
    def joining(self, conn: Any) -> FilesUnitOfWork: ...


class BlobStore(Protocol):
    """Where the bytes live (adapters/blobs.py: a local directory or S3)."""

    async def put(self, key: str, source: IO[bytes], content_type: str) -> None:
        """Store the bytes of `source` (a file positioned at its start) under `key`."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; FileNotFoundError if there is none."""

    async def delete(self, key: str) -> None:
        """Remove the object; no error if it is already gone."""

    async def size(self, key: str) -> int | None:
        """The object's size, or None if there is no such object."""

    def blobs(self) -> AsyncIterator[StoredBlob]:
        """Every object (for the sweeper)."""


class PresignedUrls(Protocol):
    """URLs that let a client move an object's bytes straight to and from the store (S3 only)."""

    def presigned_put(self, key: str, content_type: str, expires: timedelta) -> tuple[str, dict[str, str]]:
        """A URL for one PUT of the object, and the headers that PUT must carry."""

    def presigned_get(self, key: str, filename_disposition: str, expires: timedelta) -> str: ...


class TaskAccessChecker(Protocol):
    async def check(self, task_id: int, user_id: int) -> TaskAccess:
        """What the user holds on the task; NotFound when the task does not exist or the user
        cannot see it (they must not learn which)."""
