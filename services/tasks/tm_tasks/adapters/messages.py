"""The tasks service's entities as protobuf: the API messages (tasks.v1), which the events'
snapshots (events.v1) are read from, so that each entity is mapped once."""

from __future__ import annotations

from taskmanager.tasks.v1 import tasks_pb2
from tm_common.convert import timestamp
from tm_tasks.domain.comments import Comment
from tm_tasks.domain.sharing import NAMES, Share
from tm_tasks.domain.tasks import Task


def task_message(task: Task) -> tasks_pb2.Task:
    message = tasks_pb2.Task(
        id=task.id,
        title=task.title,
        completed=task.completed,
        priority=task.priority,
        tags=task.tags,
        user_id=task.user_id,
        created_at=timestamp(task.created_at),
    )
    if task.description is not None:
        message.description = task.description
    if task.due_date is not None:
        message.due_date = task.due_date.isoformat()
    if task.updated_at is not None:
        message.updated_at.CopyFrom(timestamp(task.updated_at))
    return message


def task_with_comments_message(task: Task, comments: list[Comment]) -> tasks_pb2.TaskWithComments:
    """GetTask's reply. Its fields 1-11 are Task's (tasks.proto), so a Task's bytes are one: the task
    is mapped once, by task_message."""
    message = tasks_pb2.TaskWithComments.FromString(task_message(task).SerializeToString())
    message.comments.extend(comment_message(comment) for comment in comments)
    return message


def share_message(share: Share) -> tasks_pb2.Share:
    return tasks_pb2.Share(
        id=share.id,
        task_id=share.task_id,
        shared_with_user_id=share.shared_with_user_id,
        shared_with_username=share.shared_with_username,
        permission=NAMES[share.permission],
        shared_at=timestamp(share.shared_at),
    )


def comment_message(comment: Comment) -> tasks_pb2.Comment:
    message = tasks_pb2.Comment(
        id=comment.id,
        task_id=comment.task_id,
        user_id=comment.user_id,
        content=comment.content,
        created_at=timestamp(comment.created_at),
    )
    if comment.updated_at is not None:
        message.updated_at.CopyFrom(timestamp(comment.updated_at))
    return message
