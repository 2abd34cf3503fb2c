"""Use cases of comments; every one checks the task's permission first (404 when it is not
visible), then the comment rule (403)."""

from __future__ import annotations

from tm_common.errors import InvalidArgument, NotFound
from tm_tasks.adapters import events
from tm_tasks.domain import comments as rules
from tm_tasks.domain.access import Permission, authorize, permission_of
from tm_tasks.domain.comments import Comment
from tm_tasks.domain.tasks import Task
from tm_tasks.service.tasks import TasksDeps
from tm_tasks.service.unit_of_work import TasksUnitOfWork

MAX_PAGE = 1000


async def _visible(uow: TasksUnitOfWork, user_id: int, task_id: int) -> tuple[Task, Permission]:
    """The task and what the user holds on it; NotFound unless they can at least view it."""
    found, shared = await uow.tasks.get_for(task_id, user_id)
    task = authorize(found, task_id, user_id, Permission.VIEW, shared)
    held = permission_of(task, user_id, shared)
    assert held is not None
    return task, held


async def _comment_for(
    uow: TasksUnitOfWork, user_id: int, task_id: int, comment_id: int
) -> tuple[Comment, Task, Permission]:
    """The comment, its task and the user's permission on it. Whoever may not view the task gets
    the answer a missing comment gets: for /tasks/{task_id}/comments/{id} the task's 404 comes first;
    for the /comments/{id} alias (task_id 0) a comment on a task they cannot see is "not found"."""
    if task_id:
        task, held = await _visible(uow, user_id, task_id)
        return rules.belongs(await uow.comments.get(comment_id), task_id, comment_id), task, held
    comment = rules.belongs(await uow.comments.get(comment_id), 0, comment_id)
    try:
        task, held = await _visible(uow, user_id, comment.task_id)
    except NotFound:
        raise rules.not_found(comment_id) from None
    return comment, task, held


async def add_comment(deps: TasksDeps, user_id: int, task_id: int, text: str) -> Comment:
    text = rules.content(text)
    async with deps.uow() as uow:
        task, _ = await _visible(uow, user_id, task_id)
        comment = await uow.comments.add(task_id, user_id, text)
        uow.publish(events.comment_added(user_id, task, comment, await uow.shares.audience(task_id)))
        await uow.commit()
        return comment


async def list_comments(
    deps: TasksDeps, user_id: int, task_id: int, page_size: int, after_id: int
) -> tuple[list[Comment], int]:
    """The task's comments, oldest first, and the last id of this page (0 when it is the last)."""
    if not 0 <= page_size <= MAX_PAGE:
        raise InvalidArgument.for_field("page_size", f"must be 0 (all) to {MAX_PAGE}")
    async with deps.uow(read_only=True) as uow:
        await _visible(uow, user_id, task_id)
        found = await uow.comments.on_task(task_id, after_id, page_size + 1 if page_size else None)
    if page_size and len(found) > page_size:
        return found[:page_size], found[page_size - 1].id
    return found, 0


async def edit_comment(deps: TasksDeps, user_id: int, task_id: int, comment_id: int, text: str) -> Comment:
    text = rules.content(text)
    async with deps.uow() as uow:
        before, task, _ = await _comment_for(uow, user_id, task_id, comment_id)
        rules.may_edit(before, user_id)
        after = await uow.comments.set_content(comment_id, text)
        shared_with = await uow.shares.audience(task.id)
        uow.publish(events.comment_updated(user_id, task, before, after, shared_with))
        await uow.commit()
        return after


async def delete_comment(deps: TasksDeps, user_id: int, task_id: int, comment_id: int) -> None:
    async with deps.uow() as uow:
        comment, task, held = await _comment_for(uow, user_id, task_id, comment_id)
        rules.may_delete(comment, user_id, held)
        await uow.comments.delete(comment_id)
        shared_with = await uow.shares.audience(task.id)
        uow.publish(events.comment_deleted(user_id, task, comment, shared_with))
        await uow.commit()
