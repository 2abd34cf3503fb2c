"""The tasks service's events (taskmanager.events.v1) built from its domain objects.

Every builder takes the actor and the task's audience: the owner and everyone it is shared with,
read in the same transaction as the change (for an unshare or a delete, before it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from google.protobuf.message import Message
from google.protobuf.struct_pb2 import NULL_VALUE, Value

from taskmanager.events.v1 import events_pb2 as pb
from tm_common.convert import recast
from tm_common.events import envelope
from tm_tasks.adapters.messages import comment_message, share_message, task_message
from tm_tasks.domain.comments import Comment
from tm_tasks.domain.sharing import NAMES, Share
from tm_tasks.domain.tasks import PATCHABLE, Task

PRODUCER = "tasks"
NO_ACTOR = 0  # events no user caused (the due-soon scheduler's)


def task_snapshot(task: Task) -> pb.TaskSnapshot:
    return recast(task_message(task), pb.TaskSnapshot)


def share_snapshot(share: Share) -> pb.ShareSnapshot:
    return recast(share_message(share), pb.ShareSnapshot)


def comment_snapshot(comment: Comment) -> pb.CommentSnapshot:
    return recast(comment_message(comment), pb.CommentSnapshot)


def _about(payload: Message, actor: int, task: Task, audience: Iterable[int]) -> pb.EventEnvelope:
    return envelope(
        payload,
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
    return _about(pb.TaskCreated(task=task_snapshot(task)), actor, task, ())


def task_updated(actor: int, before: Task, after: Task, audience: Iterable[int]) -> pb.EventEnvelope | None:
    """task.updated, or task.completed when the update completes the task; None if nothing changed."""
    changes = field_changes(before, after)
    if not changes:
        return None
    kind = pb.TaskCompleted if after.completed and not before.completed else pb.TaskUpdated
    return _about(kind(task=task_snapshot(after), changes=changes), actor, after, audience)


def task_deleted(actor: int, task: Task, audience: Iterable[int]) -> pb.EventEnvelope:
    return _about(pb.TaskDeleted(task=task_snapshot(task)), actor, task, audience)


def tags_added(actor: int, before: Task, after: Task, audience: Iterable[int]) -> pb.EventEnvelope:
    added = [tag for tag in after.tags if tag not in before.tags]
    payload = pb.TagsAdded(added=added, old_tags=before.tags, new_tags=after.tags)
    return _about(payload, actor, after, audience)


def tag_removed(actor: int, before: Task, after: Task, tag: str, audience: Iterable[int]) -> pb.EventEnvelope:
    payload = pb.TagRemoved(tag=tag, old_tags=before.tags, new_tags=after.tags)
    return _about(payload, actor, after, audience)


def task_shared(actor: int, task: Task, share: Share, audience: Iterable[int]) -> pb.EventEnvelope:
    return _about(pb.TaskShared(share=share_snapshot(share)), actor, task, audience)


def permission_changed(
    actor: int, task: Task, before: Share, after: Share, audience: Iterable[int]
) -> pb.EventEnvelope:
    payload = pb.SharePermissionChanged(
        share=share_snapshot(after),
        old_permission=NAMES[before.permission],
        new_permission=NAMES[after.permission],
    )
    return _about(payload, actor, task, audience)


def task_unshared(actor: int, task: Task, share: Share, audience: Iterable[int]) -> pb.EventEnvelope:
    return _about(pb.TaskUnshared(share=share_snapshot(share)), actor, task, audience)


def comment_added(actor: int, task: Task, comment: Comment, audience: Iterable[int]) -> pb.EventEnvelope:
    return _about(pb.CommentAdded(comment=comment_snapshot(comment)), actor, task, audience)


def comment_updated(
    actor: int, task: Task, before: Comment, after: Comment, audience: Iterable[int]
) -> pb.EventEnvelope:
    payload = pb.CommentUpdated(
        comment=comment_snapshot(after), old_content=before.content, new_content=after.content
    )
    return _about(payload, actor, task, audience)


def comment_deleted(actor: int, task: Task, comment: Comment, audience: Iterable[int]) -> pb.EventEnvelope:
    return _about(pb.CommentDeleted(comment=comment_snapshot(comment)), actor, task, audience)


def task_due_soon(task: Task, audience: Iterable[int]) -> pb.EventEnvelope:
    """The reminder that the task's due date is near: no user caused it, so actor 0."""
    if task.due_date is None:
        raise ValueError(f"task {task.id} has no due date to remind of")
    payload = pb.TaskDueSoon(task=task_snapshot(task), due_date=task.due_date.isoformat())
    return _about(payload, NO_ACTOR, task, audience)
