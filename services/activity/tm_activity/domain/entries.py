"""Audit log entries, and how each event becomes one. Pure, no I/O.

Actions and resource types are API.md's: a permission change and a tag change are `updated`
entries of the task; comment and file entries name their task in `details.task_id`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from taskmanager.events.v1.events_pb2 import EventEnvelope, FieldChange

ACTIONS = ("created", "updated", "deleted", "shared", "unshared", "uploaded")
RESOURCE_TYPES = ("task", "comment", "file")


@dataclass(frozen=True, slots=True)
class NewEntry:
    event_id: str
    user_id: int
    username: str | None
    action: str
    resource_type: str
    resource_id: int
    task_id: int | None
    details: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    user_id: int
    username: str | None
    action: str
    resource_type: str
    resource_id: int
    details: dict[str, Any] | None
    created_at: datetime


def _dict(message: Message) -> dict[str, Any]:
    """A snapshot as JSON, with its default values (completed: false, tags: []) spelled out."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _changes(changes: Iterable[FieldChange]) -> dict[str, Any]:
    return {c.field: {"old": MessageToDict(c.old_value), "new": MessageToDict(c.new_value)} for c in changes}


def entry_of(event: EventEnvelope) -> NewEntry | None:
    """The entry an event makes, or None for events that are not audited (user.registered)."""
    kind = event.WhichOneof("payload")
    task_id = event.task_id if event.HasField("task_id") else None
    resource: tuple[str, str, int, dict[str, Any]]
    if kind == "task_created":
        resource = ("created", "task", event.task_created.task.id, {"task": _dict(event.task_created.task)})
    elif kind == "task_updated":
        resource = (
            "updated",
            "task",
            event.task_updated.task.id,
            {"changes": _changes(event.task_updated.changes)},
        )
    elif kind == "task_completed":
        changes = _changes(event.task_completed.changes)
        resource = ("updated", "task", event.task_completed.task.id, {"changes": changes})
    elif kind == "task_deleted":
        resource = ("deleted", "task", event.task_deleted.task.id, {"task": _dict(event.task_deleted.task)})
    elif kind == "tags_added":
        tags = event.tags_added
        change = {"old": list(tags.old_tags), "new": list(tags.new_tags)}
        resource = (
            "updated",
            "task",
            event.task_id,
            {"changes": {"tags": change}, "added": list(tags.added)},
        )
    elif kind == "tag_removed":
        tag = event.tag_removed
        change = {"old": list(tag.old_tags), "new": list(tag.new_tags)}
        resource = ("updated", "task", event.task_id, {"changes": {"tags": change}, "removed": tag.tag})
    elif kind == "task_shared":
        resource = ("shared", "task", event.task_id, {"share": _dict(event.task_shared.share)})
    elif kind == "share_permission_changed":
        changed = event.share_permission_changed
        permission = {"old": changed.old_permission, "new": changed.new_permission}
        resource = (
            "updated",
            "task",
            event.task_id,
            {"share": _dict(changed.share), "changes": {"permission": permission}},
        )
    elif kind == "task_unshared":
        resource = ("unshared", "task", event.task_id, {"share": _dict(event.task_unshared.share)})
    elif kind == "comment_added":
        comment = event.comment_added.comment
        resource = ("created", "comment", comment.id, {"task_id": comment.task_id, "comment": _dict(comment)})
    elif kind == "comment_updated":
        updated = event.comment_updated
        content = {"content": {"old": updated.old_content, "new": updated.new_content}}
        resource = (
            "updated",
            "comment",
            updated.comment.id,
            {"task_id": updated.comment.task_id, "changes": content},
        )
    elif kind == "comment_deleted":
        comment = event.comment_deleted.comment
        resource = ("deleted", "comment", comment.id, {"task_id": comment.task_id, "comment": _dict(comment)})
    elif kind == "file_uploaded":
        file = event.file_uploaded.file
        resource = ("uploaded", "file", file.id, {"task_id": file.task_id, "file": _dict(file)})
    elif kind == "file_deleted":
        deleted = event.file_deleted
        details = {"task_id": deleted.file.task_id, "file": _dict(deleted.file), "cause": deleted.cause}
        resource = ("deleted", "file", deleted.file.id, details)
    else:
        return None
    action, resource_type, resource_id, details = resource
    return NewEntry(
        event_id=event.event_id,
        user_id=event.actor_user_id,
        username=event.actor_username or None,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        task_id=task_id,
        details=details,
        created_at=event.occurred_at.ToDatetime(tzinfo=UTC),
    )


@dataclass(frozen=True, slots=True)
class AccessChange:
    """What an event says about who may read a task's timeline."""

    task_id: int
    as_of: datetime
    owner_user_id: int | None = None  # the task's owner, known from any task event
    deleted: bool = False
    viewer_user_id: int | None = None  # a share that was granted, changed or revoked
    viewer_active: bool = False
    permission: str = ""


def access_change(event: EventEnvelope) -> AccessChange | None:
    if not event.HasField("task_id") or not event.HasField("task_owner_user_id"):
        return None
    change = AccessChange(
        task_id=event.task_id,
        as_of=event.occurred_at.ToDatetime(tzinfo=UTC),
        owner_user_id=event.task_owner_user_id,
        deleted=event.type == "task.deleted",
    )
    kind = event.WhichOneof("payload")
    share = None
    if kind == "task_shared":
        share = event.task_shared.share
    elif kind == "share_permission_changed":
        share = event.share_permission_changed.share
    elif kind == "task_unshared":
        share = event.task_unshared.share
    if share is None:
        return change
    return AccessChange(
        task_id=change.task_id,
        as_of=change.as_of,
        owner_user_id=change.owner_user_id,
        viewer_user_id=share.shared_with_user_id,
        viewer_active=kind != "task_unshared",
        permission=share.permission,
    )
