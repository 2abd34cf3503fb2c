"""Who may do what with a task: the one access check of every task path.

OWNER > EDIT > VIEW. The owner holds OWNER; a share gives VIEW or EDIT. Whoever may not see a
task learns nothing about it (404); whoever can see it but may not do the thing gets 403.
VIEW reads the task (and its comments and files); EDIT also changes it and its tags; only the
owner deletes it or shares it.
"""

from __future__ import annotations

from enum import IntEnum

from tm_common.errors import NotFound, PermissionDenied
from tm_tasks.domain.tasks import Task


class Permission(IntEnum):
    VIEW = 1
    EDIT = 2
    OWNER = 3


Seen = tuple[Task | None, Permission | None]  # a task (None: no such task) and the caller's share


def permission_of(task: Task, user_id: int, shared: Permission | None = None) -> Permission | None:
    """What `user_id` holds on `task`, given the share they have on it (if any)."""
    return Permission.OWNER if task.user_id == user_id else shared


def authorize(
    task: Task | None, task_id: int, user_id: int, needed: Permission, shared: Permission | None = None
) -> Task:
    """The task, if `user_id` (with the share `shared`, if any) holds at least `needed` on it."""
    held = permission_of(task, user_id, shared) if task is not None else None
    if task is None or held is None:
        raise NotFound(f"task {task_id} not found")
    if held < needed:
        raise PermissionDenied(f"this needs {needed.name.lower()} permission on task {task_id}")
    return task
