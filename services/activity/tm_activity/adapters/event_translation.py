"""The stream's EventEnvelopes read as this service's events (domain/events.py): one small
function per payload, which gives the resource the event is about and its details as JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from taskmanager.events.v1.events_pb2 import EventEnvelope, FieldChange, ShareSnapshot
from tm_activity.domain.events import Event, ShareSeen


@dataclass(frozen=True, slots=True)
class Subject:
    resource_id: int
    details: dict[str, Any]
    share: ShareSeen | None = None


def _dict(message: Message) -> dict[str, Any]:
    """A snapshot as JSON, with its default values (completed: false, tags: []) spelled out."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _changes(changes: Iterable[FieldChange]) -> dict[str, Any]:
    return {c.field: {"old": MessageToDict(c.old_value), "new": MessageToDict(c.new_value)} for c in changes}


def _share(e: EventEnvelope, share: ShareSnapshot, details: dict[str, Any]) -> Subject:
    return Subject(e.task_id, details, ShareSeen(share.shared_with_user_id, share.permission))


def _task_created(e: EventEnvelope) -> Subject:
    return Subject(e.task_created.task.id, {"task": _dict(e.task_created.task)})


def _task_updated(e: EventEnvelope) -> Subject:
    return Subject(e.task_updated.task.id, {"changes": _changes(e.task_updated.changes)})


def _task_completed(e: EventEnvelope) -> Subject:
    return Subject(e.task_completed.task.id, {"changes": _changes(e.task_completed.changes)})


def _task_deleted(e: EventEnvelope) -> Subject:
    return Subject(e.task_deleted.task.id, {"task": _dict(e.task_deleted.task)})


def _tags_added(e: EventEnvelope) -> Subject:
    tags = e.tags_added
    change = {"old": list(tags.old_tags), "new": list(tags.new_tags)}
    return Subject(e.task_id, {"changes": {"tags": change}, "added": list(tags.added)})


def _tag_removed(e: EventEnvelope) -> Subject:
    tag = e.tag_removed
    change = {"old": list(tag.old_tags), "new": list(tag.new_tags)}
    return Subject(e.task_id, {"changes": {"tags": change}, "removed": tag.tag})


def _task_shared(e: EventEnvelope) -> Subject:
    return _share(e, e.task_shared.share, {"share": _dict(e.task_shared.share)})


def _share_permission_changed(e: EventEnvelope) -> Subject:
    changed = e.share_permission_changed
    permission = {"old": changed.old_permission, "new": changed.new_permission}
    return _share(e, changed.share, {"share": _dict(changed.share), "changes": {"permission": permission}})


def _task_unshared(e: EventEnvelope) -> Subject:
    return _share(e, e.task_unshared.share, {"share": _dict(e.task_unshared.share)})


def _comment_added(e: EventEnvelope) -> Subject:
    comment = e.comment_added.comment
    return Subject(comment.id, {"task_id": comment.task_id, "comment": _dict(comment)})


def _comment_updated(e: EventEnvelope) -> Subject:
    updated = e.comment_updated
    content = {"content": {"old": updated.old_content, "new": updated.new_content}}
    return Subject(updated.comment.id, {"task_id": updated.comment.task_id, "changes": content})


def _comment_deleted(e: EventEnvelope) -> Subject:
    comment = e.comment_deleted.comment
    return Subject(comment.id, {"task_id": comment.task_id, "comment": _dict(comment)})


def _file_uploaded(e: EventEnvelope) -> Subject:
    file = e.file_uploaded.file
    return Subject(file.id, {"task_id": file.task_id, "file": _dict(file)})


def _file_deleted(e: EventEnvelope) -> Subject:
    deleted = e.file_deleted
    details = {"task_id": deleted.file.task_id, "file": _dict(deleted.file), "cause": deleted.cause}
    return Subject(deleted.file.id, details)


# By payload field; user_registered is not here: accounts have no activity of their own.
SUBJECTS: dict[str, Callable[[EventEnvelope], Subject]] = {
    "task_created": _task_created,
    "task_updated": _task_updated,
    "task_completed": _task_completed,
    "task_deleted": _task_deleted,
    "tags_added": _tags_added,
    "tag_removed": _tag_removed,
    "task_shared": _task_shared,
    "share_permission_changed": _share_permission_changed,
    "task_unshared": _task_unshared,
    "comment_added": _comment_added,
    "comment_updated": _comment_updated,
    "comment_deleted": _comment_deleted,
    "file_uploaded": _file_uploaded,
    "file_deleted": _file_deleted,
}


def event_of(envelope: EventEnvelope) -> Event | None:
    """The event as this service reads it; None for payloads it has no use for."""
    subject_of = SUBJECTS.get(envelope.WhichOneof("payload") or "")
    if subject_of is None:
        return None
    subject = subject_of(envelope)
    return Event(
        event_id=envelope.event_id,
        type=envelope.type,
        actor_user_id=envelope.actor_user_id,
        actor_username=envelope.actor_username or None,
        occurred_at=envelope.occurred_at.ToDatetime(tzinfo=UTC),
        task_id=envelope.task_id if envelope.HasField("task_id") else None,
        task_owner_user_id=envelope.task_owner_user_id if envelope.HasField("task_owner_user_id") else None,
        resource_id=subject.resource_id,
        details=subject.details,
        share=subject.share,
    )


def events_of(envelopes: Iterable[EventEnvelope]) -> list[Event]:
    return [event for envelope in envelopes if (event := event_of(envelope)) is not None]
