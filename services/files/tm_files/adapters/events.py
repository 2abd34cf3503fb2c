"""The files service's events (taskmanager.events.v1)."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message

from taskmanager.events.v1 import events_pb2 as pb
from tm_common.convert import recast
from tm_common.events import envelope
from tm_files.adapters.messages import file_message
from tm_files.domain.files import FileMeta

PRODUCER = "files"


def file_snapshot(file: FileMeta) -> pb.FileSnapshot:
    snapshot = recast(file_message(file), pb.FileSnapshot)
    snapshot.uploaded_by_user_id = file.uploaded_by_user_id  # the API does not show it
    return snapshot


def _about(
    payload: Message,
    actor: int,
    file: FileMeta,
    owner: int,
    title: str,
    audience: Iterable[int],
    actor_username: str | None = None,
) -> pb.EventEnvelope:
    return envelope(
        payload,
        PRODUCER,
        actor,
        actor_username=actor_username,
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
    actor: int,
    file: FileMeta,
    owner: int,
    title: str,
    audience: Iterable[int],
    cause: str,
    actor_username: str | None = None,
) -> pb.EventEnvelope:
    """cause: "request" (DELETE /files/{id}) or "task_deleted" (removed with its task, by the
    actor of the task's deletion: `actor_username` is theirs, from that event)."""
    deleted = pb.FileDeleted(file=file_snapshot(file), cause=cause)
    return _about(deleted, actor, file, owner, title, audience, actor_username)
