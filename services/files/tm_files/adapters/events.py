"""The files service's events (taskmanager.events.v1)."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message

from taskmanager.events.v1 import events_pb2 as pb
from tm_common.convert import timestamp
from tm_common.events import envelope
from tm_files.domain.files import FileMeta

PRODUCER = "files"


def file_snapshot(file: FileMeta) -> pb.FileSnapshot:
    return pb.FileSnapshot(
        id=file.id,
        task_id=file.task_id,
        original_filename=file.original_filename,
        file_size=file.file_size,
        content_type=file.content_type,
        uploaded_at=timestamp(file.uploaded_at),
        uploaded_by_user_id=file.uploaded_by_user_id,
    )


def _about(
    payload: Message, actor: int, file: FileMeta, owner: int, title: str, audience: Iterable[int]
) -> pb.EventEnvelope:
    return envelope(
        payload,
        PRODUCER,
        actor,
        task_id=file.task_id,
        task_owner_user_id=owner,
        task_title=title,
        audience=[owner, *audience],
    )


def file_uploaded(
    actor: int, file: FileMeta, owner: int, title: str, audience: Iterable[int]
) -> pb.EventEnvelope:
    return _about(pb.FileUploaded(file=file_snapshot(file)), actor, file, owner, title, audience)


def file_deleted(
    actor: int, file: FileMeta, owner: int, title: str, audience: Iterable[int], cause: str
) -> pb.EventEnvelope:
    """cause: "request" (DELETE /files/{id}) or "task_deleted" (removed with its task)."""
    deleted = pb.FileDeleted(file=file_snapshot(file), cause=cause)
    return _about(deleted, actor, file, owner, title, audience)
