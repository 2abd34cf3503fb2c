"""In-memory fakes of the files service's unit of work and repositories, its blob store, the tasks
service's access check and S3's presigned URLs, with the same behaviour as the real ones where the
use cases can tell (tests/adapters checks the SQL side against a real Postgres). The `fake`
fixture gives a fresh service to call use cases on."""

from __future__ import annotations

import dataclasses
import io
import itertools
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO

import pytest

from support.fakes import FakeUnitOfWork
from taskmanager.events.v1 import events_pb2 as pb
from tm_common.errors import NotFound
from tm_common.events import envelope
from tm_common.paging import PageTokens
from tm_files.domain.blobs import StoredBlob
from tm_files.domain.files import FileMeta, Incoming, Limits, PendingUpload, TaskAccess
from tm_files.service.files import FilesDeps

CHUNK = 4  # the fake store's chunks are tiny, so that reads come in several


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FilesState:
    files: dict[int, FileMeta] = field(default_factory=dict)
    upload_ids: dict[int, str] = field(default_factory=dict)  # file id -> presigned upload it came from
    uploads: dict[str, PendingUpload] = field(default_factory=dict)
    removals: dict[str, datetime] = field(default_factory=dict)  # blob_deletions: key -> requested at
    deleted_tasks: set[int] = field(default_factory=set)
    outbox: list[pb.EventEnvelope] = field(default_factory=list)
    locks: list[int] = field(default_factory=list)  # task locks taken (a log, not rolled back)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def copy(self) -> FilesState:
        return dataclasses.replace(
            self, files=dict(self.files), upload_ids=dict(self.upload_ids), uploads=dict(self.uploads),
            removals=dict(self.removals), deleted_tasks=set(self.deleted_tasks),
        )  # fmt: skip

    def replace_with(self, other: FilesState) -> None:
        self.files, self.upload_ids, self.uploads, self.removals, self.deleted_tasks = (
            other.files, other.upload_ids, other.uploads, other.removals, other.deleted_tasks,
        )  # fmt: skip


class FakeFileRepository:
    def __init__(self, work: FilesState) -> None:
        self.work = work

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
        assert all(f.blob_key != blob_key for f in self.work.files.values()), "blob_key is unique"
        meta = FileMeta(next(self.work.ids), task_id, filename, size, content_type, blob_key, user_id, now())
        self.work.files[meta.id] = meta
        if upload_id is not None:
            assert upload_id not in self.work.upload_ids.values(), "upload_id is unique"
            self.work.upload_ids[meta.id] = upload_id
        return meta

    async def get(self, file_id: int) -> FileMeta | None:
        return self.work.files.get(file_id)

    async def by_upload(self, upload_id: str) -> FileMeta | None:
        return next((self.work.files[i] for i, u in self.work.upload_ids.items() if u == upload_id), None)

    async def on_task(self, task_id: int, after_id: int, limit: int | None) -> list[FileMeta]:
        found = sorted(
            (f for f in self.work.files.values() if f.task_id == task_id and f.id > after_id),
            key=lambda f: f.id,
        )
        return found[:limit] if limit is not None else found

    async def delete(self, file_id: int) -> FileMeta | None:
        self.work.upload_ids.pop(file_id, None)
        return self.work.files.pop(file_id, None)

    async def delete_on_task(self, task_id: int) -> list[FileMeta]:
        return [
            meta
            for meta in [
                await self.delete(i) for i in sorted(self.work.files) if self.work.files[i].task_id == task_id
            ]
            if meta is not None
        ]

    async def blob_keys(self) -> list[tuple[int, str]]:
        return [(i, self.work.files[i].blob_key) for i in sorted(self.work.files)]


class FakePendingUploadRepository:
    def __init__(self, work: FilesState) -> None:
        self.work = work

    async def add(self, upload: PendingUpload) -> None:
        assert upload.upload_id not in self.work.uploads
        self.work.uploads[upload.upload_id] = upload

    async def get(self, upload_id: str, user_id: int) -> PendingUpload | None:
        upload = self.work.uploads.get(upload_id)
        return upload if upload is not None and upload.user_id == user_id else None

    async def take(self, upload_id: str, user_id: int) -> PendingUpload | None:
        upload = await self.get(upload_id, user_id)
        if upload is not None:
            del self.work.uploads[upload_id]
        return upload

    async def take_expired(self, now: datetime) -> list[str]:
        expired = [u for u in self.work.uploads.values() if u.expires_at < now]
        for upload in expired:
            del self.work.uploads[upload.upload_id]
        return [upload.blob_key for upload in expired]


class FakeBlobKeyRepository:
    def __init__(self, work: FilesState) -> None:
        self.work = work

    async def referenced(self, keys: list[str]) -> set[str]:
        needed = {f.blob_key for f in self.work.files.values()} | {
            u.blob_key for u in self.work.uploads.values()
        }
        return needed & set(keys)

    async def schedule_removal(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.work.removals.setdefault(key, now())

    async def removals_due(self, limit: int = 100) -> list[str]:
        return sorted(self.work.removals, key=lambda key: self.work.removals[key])[:limit]

    async def removed(self, key: str) -> None:
        self.work.removals.pop(key, None)


class FakeTaskRepository:
    def __init__(self, work: FilesState) -> None:
        self.work = work

    async def lock(self, task_id: int) -> None:
        self.work.locks.append(task_id)

    async def is_deleted(self, task_id: int) -> bool:
        return task_id in self.work.deleted_tasks

    async def mark_deleted(self, task_id: int) -> None:
        self.work.deleted_tasks.add(task_id)


class FakeFilesUnitOfWork(FakeUnitOfWork):
    commit_error: Exception | None = None  # what commit raises (the database went away), if anything

    def bind(self, work: FilesState) -> None:
        self.files = FakeFileRepository(work)
        self.uploads = FakePendingUploadRepository(work)
        self.blob_keys = FakeBlobKeyRepository(work)
        self.tasks = FakeTaskRepository(work)

    async def _commit(self, events: Sequence[pb.EventEnvelope]) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        await super()._commit(events)


@dataclass
class Blob:
    data: bytes
    content_type: str
    modified: float


class MemoryBlobStore:
    """The blob store in a dict; `failing` makes every call raise (an outage of the store)."""

    def __init__(self) -> None:
        self.objects: dict[str, Blob] = {}
        self.failing = False

    def _check(self) -> None:
        if self.failing:
            raise ConnectionError("the blob store is down")

    async def put(self, key: str, source: IO[bytes], content_type: str) -> None:
        self._check()
        self.objects[key] = Blob(source.read(), content_type, time.time())

    async def read(self, key: str) -> AsyncIterator[bytes]:
        self._check()
        if key not in self.objects:
            raise FileNotFoundError(key)
        data = self.objects[key].data
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]

    async def delete(self, key: str) -> None:
        self._check()
        self.objects.pop(key, None)

    async def size(self, key: str) -> int | None:
        self._check()
        blob = self.objects.get(key)
        return None if blob is None else len(blob.data)

    async def blobs(self) -> AsyncIterator[StoredBlob]:
        self._check()
        for key, blob in list(self.objects.items()):
            yield StoredBlob(key, len(blob.data), blob.modified)

    def age(self, key: str, by: timedelta) -> None:
        self.objects[key].modified -= by.total_seconds()


class FakePresignedUrls:
    """S3's presigned URLs: each names its object's key (so a test can play the client's PUT)."""

    def presigned_put(self, key: str, content_type: str, expires: timedelta) -> tuple[str, dict[str, str]]:
        return f"https://s3.test/bucket/{key}?put&expires={int(expires.total_seconds())}", {
            "Content-Type": content_type
        }

    def presigned_get(self, key: str, filename_disposition: str, expires: timedelta) -> str:
        return f"https://s3.test/bucket/{key}?get&disposition={filename_disposition}"


@dataclass
class FakeTask:
    owner: int
    title: str
    shares: dict[int, str] = field(default_factory=dict)  # user id -> "view" | "edit"


class FakeTaskAccess:
    """The tasks service's access check, over the tasks a test sets up; `calls` counts the checks."""

    def __init__(self) -> None:
        self.tasks: dict[int, FakeTask] = {}
        self.calls = 0

    async def check(self, task_id: int, user_id: int) -> TaskAccess:
        self.calls += 1
        task = self.tasks.get(task_id)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        permission = "owner" if user_id == task.owner else task.shares.get(user_id)
        if permission is None:
            raise NotFound(f"task {task_id} not found")
        return TaskAccess(permission, task.owner, [task.owner, *task.shares], task.title)


LIMITS = Limits(max_bytes=1000, extensions=frozenset({".txt", ".pdf", ".png"}))


@dataclass
class FakeFiles:
    """A files service in memory: its state, its dependencies, and ways to set a scene."""

    state: FilesState = field(default_factory=FilesState)
    presigned: bool = False  # with S3's presigned URLs
    commit_error: Exception | None = None  # what every commit raises from now on, if anything

    def __post_init__(self) -> None:
        self.blobs = MemoryBlobStore()
        self.access = FakeTaskAccess()
        self.s3 = FakePresignedUrls()
        self.units: list[FakeFilesUnitOfWork] = []

        def open_unit(read_only: bool = False) -> FakeFilesUnitOfWork:
            unit = FakeFilesUnitOfWork(self.state, read_only)
            unit.commit_error = self.commit_error
            self.units.append(unit)
            return unit

        self.deps = FilesDeps(
            uow=open_unit,
            blobs=self.blobs,
            access=self.access,
            limits=LIMITS,
            presign=timedelta(minutes=15),
            tokens=PageTokens(b"k" * 32),
            s3=self.s3 if self.presigned else None,
        )

    def task(self, owner: int, title: str = "a task", **shares: str) -> int:
        """A task of `owner` in the tasks service; `shares`: {"u<id>": "view" | "edit"}."""
        task_id = next(self.state.ids)
        self.access.tasks[task_id] = FakeTask(owner, title, {int(k[1:]): v for k, v in shares.items()})
        return task_id

    def share(self, task_id: int, user_id: int, permission: str) -> None:
        self.access.tasks[task_id].shares[user_id] = permission

    def file(self, task_id: int, user_id: int, data: bytes = b"stored text", name: str = "a.txt") -> FileMeta:
        """A file stored as if uploaded (its row and blob, without its event)."""
        key = f"files/{next(self.state.ids):032x}"
        meta = FileMeta(next(self.state.ids), task_id, name, len(data), "text/plain", key, user_id, now())
        self.state.files[meta.id] = meta
        self.blobs.objects[key] = Blob(data, "text/plain", time.time())
        return meta

    def pending(
        self, task_id: int, user_id: int, expires_in: timedelta = timedelta(minutes=5)
    ) -> PendingUpload:
        upload = PendingUpload(
            f"00000000-0000-4000-8000-{next(self.state.ids):012x}",
            f"files/{next(self.state.ids):032x}",
            task_id,
            user_id,
            "p.txt",
            "text/plain",
            5,
            now() + expires_in,
        )
        self.state.uploads[upload.upload_id] = upload
        return upload

    def client_put(self, url: str, data: bytes) -> str:
        """The client's PUT to a presigned URL: the bytes land under its key, which is returned."""
        key = url.split("/bucket/", 1)[1].split("?", 1)[0]
        self.blobs.objects[key] = Blob(data, "", time.time())
        return key

    @staticmethod
    def incoming(
        data: bytes, filename: str | None = "notes.txt", declared_type: str | None = None
    ) -> Incoming:
        """An upload's bytes as the entry points hand them over."""
        return Incoming(io.BytesIO(data), len(data), data[:512], filename, declared_type)

    def task_deleted(self, task_id: int, actor: int, actor_username: str = "deleter") -> pb.EventEnvelope:
        """The tasks service's task.deleted of a task set up here (which stays in the access
        check's view: a deletion the tasks service has made but this one not yet heard of)."""
        task = self.access.tasks[task_id]
        return envelope(
            pb.TaskDeleted(task=pb.TaskSnapshot(id=task_id, title=task.title, user_id=task.owner)),
            "tasks",
            actor,
            actor_username=actor_username,
            task_id=task_id,
            task_owner_user_id=task.owner,
            task_title=task.title,
            audience=[task.owner, *task.shares],
        )

    def consumer_unit(self) -> FakeFilesUnitOfWork:
        """A unit of work as the event consumer's transaction gives one."""
        return FakeFilesUnitOfWork(self.state)

    def events(self) -> list[pb.EventEnvelope]:
        """The events committed so far, oldest first."""
        return list(self.state.outbox)

    def event_types(self) -> list[str]:
        return [event.type for event in self.state.outbox]


@pytest.fixture
def fake() -> FakeFiles:
    return FakeFiles()


@pytest.fixture
def fake_s3() -> FakeFiles:
    return FakeFiles(presigned=True)
