"""The tasks service's events (taskmanager.events.v1) built from its domain objects.

Every builder takes the actor and the task's audience: the owner and everyone it is shared with,
read in the same transaction as the change (for an unshare or a delete, before it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from google.protobuf.struct_pb2 import NULL_VALUE, Value

from taskmanager.events.v1 import events_pb2 as pb
from tm_common.convert import timestamp
from tm_common.events import envelope
from tm_tasks.domain.comments import Comment
from tm_tasks.domain.sharing import NAMES, Share
from tm_tasks.domain.tasks import PATCHABLE, Task

PRODUCER = "tasks"


def task_snapshot(task: Task) -> pb.TaskSnapshot:
    snapshot = pb.TaskSnapshot(
        id=task.id,
        title=task.title,
        completed=task.completed,
        priority=task.priority,
        tags=list(task.tags),
        user_id=task.user_id,
        created_at=timestamp(task.created_at),
    )
    if task.description is not None:
        snapshot.description = task.description
    if task.due_date is not None:
        snapshot.due_date = task.due_date.isoformat()
    if task.updated_at is not None:
        snapshot.updated_at.CopyFrom(timestamp(task.updated_at))
    return snapshot


def share_snapshot(share: Share) -> pb.ShareSnapshot:
    return pb.ShareSnapshot(
        id=share.id,
        task_id=share.task_id,
        shared_with_user_id=share.shared_with_user_id,
        shared_with_username=share.shared_with_username,
        permission=NAMES[share.permission],
        shared_at=timestamp(share.shared_at),
    )


def comment_snapshot(comment: Comment) -> pb.CommentSnapshot:
    snapshot = pb.CommentSnapshot(
        id=comment.id,
        task_id=comment.task_id,
        user_id=comment.user_id,
        content=comment.content,
        created_at=timestamp(comment.created_at),
    )
    if comment.updated_at is not None:
        snapshot.updated_at.CopyFrom(timestamp(comment.updated_at))
    return snapshot


def _about(event_type: str, actor: int, task: Task, audience: Iterable[int]) -> pb.EventEnvelope:
    return envelope(
        event_type,
        PRODUCER,
        actor,
        task_id=task.id,
        task_owner_user_id=task.user_id,
        task_title=task.title,
        audience=[task.user_id, *audience],
    )


def _value(value: Any) -> Value:
    result = Value()
    if value is None:
        result.null_value = NULL_VALUE
    elif isinstance(value, bool):
        result.bool_value = value
    elif isinstance(value, tuple | list):
        result.list_value.extend(list(value))
    elif isinstance(value, date):
        result.string_value = value.isoformat()
    else:
        result.string_value = str(value)
    return result


def field_changes(before: Task, after: Task) -> list[pb.FieldChange]:
    return [
        pb.FieldChange(field=name, old_value=_value(old), new_value=_value(new))
        for name in PATCHABLE
        if (old := getattr(before, name)) != (new := getattr(after, name))
    ]


def task_created(actor: int, task: Task) -> pb.EventEnvelope:
    event = _about("task.created", actor, task, ())
    event.task_created.task.CopyFrom(task_snapshot(task))
    return event


def task_updated(actor: int, before: Task, after: Task, audience: Iterable[int]) -> pb.EventEnvelope | None:
    """task.updated, or task.completed when the update completes the task; None if nothing changed."""
    changes = field_changes(before, after)
    if not changes:
        return None
    if after.completed and not before.completed:
        event = _about("task.completed", actor, after, audience)
        event.task_completed.task.CopyFrom(task_snapshot(after))
        event.task_completed.changes.extend(changes)
    else:
        event = _about("task.updated", actor, after, audience)
        event.task_updated.task.CopyFrom(task_snapshot(after))
        event.task_updated.changes.extend(changes)
    return event


def task_deleted(actor: int, task: Task, audience: Iterable[int]) -> pb.EventEnvelope:
    event = _about("task.deleted", actor, task, audience)
    event.task_deleted.task.CopyFrom(task_snapshot(task))
    return event


def tags_added(actor: int, before: Task, after: Task, audience: Iterable[int]) -> pb.EventEnvelope:
    event = _about("task.tags_added", actor, after, audience)
    added = [tag for tag in after.tags if tag not in before.tags]
    event.tags_added.CopyFrom(pb.TagsAdded(added=added, old_tags=before.tags, new_tags=after.tags))
    return event


def tag_removed(actor: int, before: Task, after: Task, tag: str, audience: Iterable[int]) -> pb.EventEnvelope:
    event = _about("task.tag_removed", actor, after, audience)
    event.tag_removed.CopyFrom(pb.TagRemoved(tag=tag, old_tags=before.tags, new_tags=after.tags))
    return event


def task_shared(actor: int, task: Task, share: Share, audience: Iterable[int]) -> pb.EventEnvelope:
    event = _about("task.shared", actor, task, audience)
    event.task_shared.share.CopyFrom(share_snapshot(share))
    return event


def permission_changed(
    actor: int, task: Task, before: Share, after: Share, audience: Iterable[int]
) -> pb.EventEnvelope:
    event = _about("task.share_permission_changed", actor, task, audience)
    event.share_permission_changed.CopyFrom(
        pb.SharePermissionChanged(
            share=share_snapshot(after),
            old_permission=NAMES[before.permission],
            new_permission=NAMES[after.permission],
        )
    )
    return event


def task_unshared(actor: int, task: Task, share: Share, audience: Iterable[int]) -> pb.EventEnvelope:
    event = _about("task.unshared", actor, task, audience)
    event.task_unshared.share.CopyFrom(share_snapshot(share))
    return event


def comment_added(actor: int, task: Task, comment: Comment, audience: Iterable[int]) -> pb.EventEnvelope:
    event = _about("comment.added", actor, task, audience)
    event.comment_added.comment.CopyFrom(comment_snapshot(comment))
    return event


def comment_updated(
    actor: int, task: Task, before: Comment, after: Comment, audience: Iterable[int]
) -> pb.EventEnvelope:
    event = _about("comment.updated", actor, task, audience)
    event.comment_updated.CopyFrom(
        pb.CommentUpdated(
            comment=comment_snapshot(after), old_content=before.content, new_content=after.content
        )
    )
    return event


def comment_deleted(actor: int, task: Task, comment: Comment, audience: Iterable[int]) -> pb.EventEnvelope:
    event = _about("comment.deleted", actor, task, audience)
    event.comment_deleted.comment.CopyFrom(comment_snapshot(comment))
    return event
