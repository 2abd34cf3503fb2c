"""Comments on a task: they follow the task's permission. Pure, no I/O.

Anyone who can view the task reads and adds comments; only the author edits a comment; the
author or the task's owner deletes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tm_common.errors import InvalidArgument, NotFound, PermissionDenied
from tm_tasks.domain.access import Permission

MAX_CONTENT = 1000


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    task_id: int
    user_id: int
    content: str
    created_at: datetime
    updated_at: datetime | None


def content(value: str) -> str:
    if not value.strip() or len(value) > MAX_CONTENT or "\x00" in value:
        raise InvalidArgument.for_field("content", f"must be 1 to {MAX_CONTENT} characters, not only spaces")
    return value


def may_edit(comment: Comment, user_id: int) -> None:
    if comment.user_id != user_id:
        raise PermissionDenied("only the author edits a comment")


def may_delete(comment: Comment, user_id: int, held: Permission) -> None:
    if comment.user_id != user_id and held is not Permission.OWNER:
        raise PermissionDenied("only the author or the task's owner deletes a comment")


def belongs(comment: Comment | None, task_id: int, comment_id: int) -> Comment:
    """The comment, if it exists and is on `task_id` (0: any task, the /comments/{id} alias)."""
    if comment is None or (task_id and comment.task_id != task_id):
        raise not_found(comment_id)
    return comment


def not_found(comment_id: int) -> NotFound:
    return NotFound(f"comment {comment_id} not found")
