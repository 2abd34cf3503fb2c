"""Use cases of sharing: only the owner shares, changes or revokes; anyone sees what is shared
with them."""

from __future__ import annotations

from dataclasses import dataclass

from tm_common.errors import InvalidArgument, NotFound
from tm_common.users import UserDirectory
from tm_tasks.adapters import events
from tm_tasks.domain.access import Permission, permission_of
from tm_tasks.domain.sharing import Share, check_not_self, grantable
from tm_tasks.domain.sharing import username as shared_username
from tm_tasks.domain.tasks import Task
from tm_tasks.service.tasks import TasksDeps, locked
from tm_tasks.service.unit_of_work import TasksUnitOfWork

MAX_PAGE = 1000


@dataclass(frozen=True)
class Access:
    permission: Permission | None
    owner_user_id: int
    audience: list[int]  # owner first, then everyone it is shared with
    task_title: str


async def share_task(
    deps: TasksDeps, users: UserDirectory, user_id: int, task_id: int, username: str, permission: str | None
) -> Share:
    granted = grantable(permission)
    name = shared_username(username, "shared_with_username")
    # Asked before the transaction: a slow auth service must not hold a row lock and a connection.
    target = await users.by_username(name)
    async with deps.uow() as uow:
        task = await locked(uow, user_id, task_id, Permission.OWNER)
        if target is None:
            raise NotFound(f"user {name!r} not found")
        check_not_self(task.user_id, target.id)
        share = await uow.shares.add(task_id, target.id, target.username, granted)
        uow.publish(events.task_shared(user_id, task, share, await uow.shares.audience(task_id)))
        await uow.commit()
        return share


async def change_permission(
    deps: TasksDeps, user_id: int, task_id: int, username: str, permission: str
) -> Share:
    if not permission:
        raise InvalidArgument.for_field("permission", "is required: view or edit")
    granted = grantable(permission)
    username = shared_username(username, "username")
    async with deps.uow() as uow:
        task = await locked(uow, user_id, task_id, Permission.OWNER)
        before = await _share_of(uow, task_id, username)
        if before.permission == granted:
            return before  # nothing changes, nothing to tell
        after = await uow.shares.set_permission(before.id, granted)
        shared_with = await uow.shares.audience(task_id)
        uow.publish(events.permission_changed(user_id, task, before, after, shared_with))
        await uow.commit()
        return after


async def unshare_task(deps: TasksDeps, user_id: int, task_id: int, username: str) -> None:
    username = shared_username(username, "username")
    async with deps.uow() as uow:
        task = await locked(uow, user_id, task_id, Permission.OWNER)
        share = await _share_of(uow, task_id, username)
        uow.publish(events.task_unshared(user_id, task, share, await uow.shares.audience(task_id)))
        await uow.shares.delete(share.id)
        await uow.commit()


async def _share_of(uow: TasksUnitOfWork, task_id: int, username: str) -> Share:
    share = await uow.shares.get(task_id, username)
    if share is None:
        raise NotFound(f"task {task_id} is not shared with {username!r}")
    return share


async def shared_with_me(
    deps: TasksDeps, user_id: int, page_size: int, after_id: int
) -> tuple[list[tuple[Task, Permission]], int]:
    """Tasks shared with the user and the last task id of this page (0 when it is the last)."""
    if not 0 <= page_size <= MAX_PAGE:
        raise InvalidArgument.for_field("page_size", f"must be 0 (all) to {MAX_PAGE}")
    async with deps.uow(read_only=True) as uow:
        found = await uow.shares.shared_with(user_id, after_id, page_size + 1 if page_size else None)
    if page_size and len(found) > page_size:
        found = found[:page_size]
        return found, found[-1][0].id
    return found, 0


async def check_access(deps: TasksDeps, task_id: int, user_id: int) -> Access:
    """What a user may do with a task, for other services (NotFound when there is no task)."""
    async with deps.uow(read_only=True) as uow:
        task, shared = await uow.tasks.get_for(task_id, user_id)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        shared_with = await uow.shares.audience(task_id)
    return Access(
        permission_of(task, user_id, shared), task.user_id, [task.user_id, *shared_with], task.title
    )
