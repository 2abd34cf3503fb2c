"""Sharing as native gRPC through the gateway's port (SharingService, and TasksService on shared
tasks): the same rules the JSON clients meet, with PERMISSION_DENIED where the caller sees the
task but lacks the permission and NOT_FOUND where it may not know the task exists."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2

from support.accounts import Account, bearer_metadata, new_account, new_user, unique
from support.errors import rpc_error, violated_fields
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

MISSING_ID = 2_147_483_647  # the largest int32: no task has that id


@pytest.fixture(scope="module")
def tasks_stub(gateway_channel) -> tasks_pb2_grpc.TasksServiceStub:
    return tasks_pb2_grpc.TasksServiceStub(gateway_channel)


@pytest.fixture(scope="module")
def sharing(gateway_channel) -> tasks_pb2_grpc.SharingServiceStub:
    return tasks_pb2_grpc.SharingServiceStub(gateway_channel)


def create(stub: tasks_pb2_grpc.TasksServiceStub, account: Account, **fields: Any) -> tasks_pb2.Task:
    fields.setdefault("title", unique("task"))
    return stub.CreateTask(tasks_pb2.CreateTaskRequest(**fields), metadata=bearer_metadata(account))


def share(
    sharing: tasks_pb2_grpc.SharingServiceStub,
    owner: Account,
    task_id: int,
    username: str,
    permission: str | None = None,
) -> tasks_pb2.Share:
    request = tasks_pb2.ShareTaskRequest(task_id=task_id, shared_with_username=username)
    if permission is not None:
        request.permission = permission
    return sharing.ShareTask(request, metadata=bearer_metadata(owner))


def shared_with_me(
    sharing: tasks_pb2_grpc.SharingServiceStub, account: Account, page_size: int = 0, page_token: str = ""
) -> tasks_pb2.ListSharedWithMeResponse:
    request = tasks_pb2.ListSharedWithMeRequest(page_size=page_size, page_token=page_token)
    return sharing.ListSharedWithMe(request, metadata=bearer_metadata(account))


def permissions(reply: tasks_pb2.ListSharedWithMeResponse) -> dict[int, str]:
    assert all(task.HasField("permission") for task in reply.tasks), reply
    return {task.id: task.permission for task in reply.tasks}


def update_permission(
    sharing: tasks_pb2_grpc.SharingServiceStub, owner: Account, task_id: int, username: str, permission: str
) -> tasks_pb2.Share:
    request = tasks_pb2.UpdateSharePermissionRequest(
        task_id=task_id, username=username, permission=permission
    )
    return sharing.UpdateSharePermission(request, metadata=bearer_metadata(owner))


def unshare(
    sharing: tasks_pb2_grpc.SharingServiceStub, owner: Account, task_id: int, username: str
) -> empty_pb2.Empty:
    request = tasks_pb2.UnshareTaskRequest(task_id=task_id, username=username)
    return sharing.UnshareTask(request, metadata=bearer_metadata(owner))


# -- ShareTask -------------------------------------------------------------------------------
def test_share_task(http, tasks_stub, sharing, account) -> None:
    task = create(tasks_stub, account)
    friend, editor = new_user(http), new_user(http)
    created = share(sharing, account, task.id, friend.username)
    assert created.id > 0
    assert (created.task_id, created.shared_with_user_id) == (task.id, friend.id)
    assert (created.shared_with_username, created.permission) == (friend.username, "view")
    assert created.shared_at.seconds > 0
    assert share(sharing, account, task.id, editor.username, "edit").permission == "edit"


def test_share_errors(http, tasks_stub, sharing, account) -> None:
    task = create(tasks_stub, account)
    friend = new_user(http)
    error = rpc_error(lambda: share(sharing, account, task.id, unique("nobody")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(lambda: share(sharing, account, task.id, account.username))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"shared_with_username"}
    for permission in ("owner", "admin", ""):
        error = rpc_error(lambda p=permission: share(sharing, account, task.id, friend.username, p))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, permission
        assert violated_fields(error) == {"permission"}, permission
    share(sharing, account, task.id, friend.username)
    error = rpc_error(lambda: share(sharing, account, task.id, friend.username, "edit"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    error = rpc_error(lambda: share(sharing, account, MISSING_ID, friend.username))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_only_the_owner_shares(http, tasks_stub, sharing, account) -> None:
    task = create(tasks_stub, account)
    editor, viewer, stranger = new_account(http), new_account(http), new_account(http)
    share(sharing, account, task.id, editor.username, "edit")
    share(sharing, account, task.id, viewer.username, "view")
    target = new_user(http).username
    for caller in (editor, viewer):
        error = rpc_error(lambda c=caller: share(sharing, c, task.id, target))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, caller
    error = rpc_error(lambda: share(sharing, stranger, task.id, target))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    # None of them shared it: the owner still can.
    share(sharing, account, task.id, target)


def test_share_without_a_token_is_unauthenticated(tasks_stub, sharing, account) -> None:
    task = create(tasks_stub, account)
    request = tasks_pb2.ShareTaskRequest(task_id=task.id, shared_with_username="someone")
    error = rpc_error(lambda: sharing.ShareTask(request))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


# -- ListSharedWithMe ------------------------------------------------------------------------
def test_list_shared_with_me_all_at_once(http, tasks_stub, sharing, account) -> None:
    alice, bob = new_account(http), new_account(http)
    a = create(tasks_stub, alice, priority="high", tags=["x"])
    b = create(tasks_stub, bob, completed=True)
    create(tasks_stub, alice)  # not shared
    own = create(tasks_stub, account)
    share(sharing, account, own.id, alice.username, "edit")  # mine, shared out: not listed
    share(sharing, alice, a.id, account.username, "edit")
    share(sharing, bob, b.id, account.username)
    reply = shared_with_me(sharing, account)
    assert permissions(reply) == {a.id: "edit", b.id: "view"}
    assert len(reply.tasks) == 2
    assert reply.next_page_token == ""
    by_id = {task.id: task for task in reply.tasks}
    assert (by_id[a.id].user_id, by_id[a.id].priority, list(by_id[a.id].tags)) == (alice.id, "high", ["x"])
    assert (by_id[b.id].user_id, by_id[b.id].completed) == (bob.id, True)
    assert permissions(shared_with_me(sharing, alice)) == {own.id: "edit"}


def test_list_shared_with_me_empty(sharing, account) -> None:
    reply = shared_with_me(sharing, account, page_size=5)
    assert list(reply.tasks) == []
    assert reply.next_page_token == ""


@pytest.mark.parametrize("page_size", [1, 3, 7, 50])
def test_list_shared_with_me_pages_walk_every_task_once(
    http, tasks_stub, sharing, account, page_size
) -> None:
    alice, bob = new_account(http), new_account(http)
    expected: dict[int, str] = {}
    for index in range(7):
        owner = (alice, bob)[index % 2]
        permission = ("view", "edit")[index % 3 == 0]
        task = create(tasks_stub, owner)
        share(sharing, owner, task.id, account.username, permission)
        expected[task.id] = permission
    seen: list[int] = []
    listed: dict[int, str] = {}
    token = ""
    pages = 0
    while True:
        reply = shared_with_me(sharing, account, page_size=page_size, page_token=token)
        pages += 1
        assert 0 < len(reply.tasks) <= page_size, reply
        seen += [task.id for task in reply.tasks]
        listed |= permissions(reply)
        token = reply.next_page_token
        if not token:
            break
        assert pages < 20, "next_page_token never ran out"
    assert len(seen) == len(set(seen)) == 7, seen
    assert listed == expected
    assert pages == -(-7 // page_size)


def test_list_shared_with_me_without_a_token_is_unauthenticated(sharing) -> None:
    error = rpc_error(lambda: sharing.ListSharedWithMe(tasks_pb2.ListSharedWithMeRequest()))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


# -- UpdateSharePermission -------------------------------------------------------------------
def test_update_share_permission(http, tasks_stub, sharing, account) -> None:
    task = create(tasks_stub, account)
    friend = new_account(http)
    created = share(sharing, account, task.id, friend.username, "view")
    updated = update_permission(sharing, account, task.id, friend.username, "edit")
    assert (updated.id, updated.task_id, updated.shared_with_user_id) == (created.id, task.id, friend.id)
    assert (updated.shared_with_username, updated.permission) == (friend.username, "edit")
    assert permissions(shared_with_me(sharing, friend)) == {task.id: "edit"}


def test_update_share_permission_errors(http, tasks_stub, sharing, account) -> None:
    task = create(tasks_stub, account)
    viewer, editor, stranger = new_account(http), new_account(http), new_account(http)
    share(sharing, account, task.id, viewer.username, "view")
    share(sharing, account, task.id, editor.username, "edit")
    for caller in (viewer, editor):
        error = rpc_error(lambda c=caller: update_permission(sharing, c, task.id, viewer.username, "edit"))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = rpc_error(lambda: update_permission(sharing, stranger, task.id, viewer.username, "edit"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(lambda: update_permission(sharing, account, task.id, stranger.username, "edit"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    for permission in ("", "owner", "admin"):
        error = rpc_error(
            lambda p=permission: update_permission(sharing, account, task.id, viewer.username, p)
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, permission
        assert violated_fields(error) == {"permission"}, permission
    assert permissions(shared_with_me(sharing, viewer)) == {task.id: "view"}


# -- UnshareTask -----------------------------------------------------------------------------
def test_unshare_task(http, tasks_stub, sharing, account) -> None:
    task = create(tasks_stub, account)
    friend = new_account(http)
    share(sharing, account, task.id, friend.username, "edit")
    assert (
        tasks_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=bearer_metadata(friend)).id
        == task.id
    )
    assert unshare(sharing, account, task.id, friend.username) == empty_pb2.Empty()
    error = rpc_error(
        lambda: tasks_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=bearer_metadata(friend))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert list(shared_with_me(sharing, friend).tasks) == []
    error = rpc_error(lambda: unshare(sharing, account, task.id, friend.username))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_unshare_errors(http, tasks_stub, sharing, account) -> None:
    task = create(tasks_stub, account)
    viewer, editor, stranger = new_account(http), new_account(http), new_account(http)
    share(sharing, account, task.id, viewer.username, "view")
    share(sharing, account, task.id, editor.username, "edit")
    for caller, target in ((editor, viewer), (viewer, viewer), (editor, editor)):
        error = rpc_error(lambda c=caller, t=target: unshare(sharing, c, task.id, t.username))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, (caller, target)
    error = rpc_error(lambda: unshare(sharing, stranger, task.id, viewer.username))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert permissions(shared_with_me(sharing, viewer)) == {task.id: "view"}
    assert permissions(shared_with_me(sharing, editor)) == {task.id: "edit"}


# -- TasksService on shared tasks ------------------------------------------------------------
def test_tasks_service_follows_the_share(http, tasks_stub, sharing, account) -> None:
    task = create(tasks_stub, account, title="original", tags=["t"])
    viewer, editor, stranger = new_account(http), new_account(http), new_account(http)
    share(sharing, account, task.id, viewer.username, "view")
    share(sharing, account, task.id, editor.username, "edit")

    def get(caller: Account) -> tasks_pb2.Task:
        return tasks_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=bearer_metadata(caller))

    def rename(caller: Account, title: str) -> tasks_pb2.Task:
        patch = tasks_pb2.TaskPatch(title=struct_pb2.Value(string_value=title))
        request = tasks_pb2.UpdateTaskRequest(id=task.id, patch=patch)
        return tasks_stub.UpdateTask(request, metadata=bearer_metadata(caller))

    def delete(caller: Account) -> empty_pb2.Empty:
        return tasks_stub.DeleteTask(
            tasks_pb2.DeleteTaskRequest(id=task.id), metadata=bearer_metadata(caller)
        )

    assert get(viewer).user_id == account.id
    assert rpc_error(lambda: rename(viewer, "by viewer")).code() == grpc.StatusCode.PERMISSION_DENIED
    assert rpc_error(lambda: get(stranger)).code() == grpc.StatusCode.NOT_FOUND
    assert rpc_error(lambda: rename(stranger, "by stranger")).code() == grpc.StatusCode.NOT_FOUND
    assert rename(editor, "by editor").title == "by editor"
    assert rpc_error(lambda: delete(editor)).code() == grpc.StatusCode.PERMISSION_DENIED
    assert rpc_error(lambda: delete(viewer)).code() == grpc.StatusCode.PERMISSION_DENIED
    assert rpc_error(lambda: delete(stranger)).code() == grpc.StatusCode.NOT_FOUND
    assert get(account).title == "by editor"
    bulk = tasks_pb2.BulkUpdateTasksRequest(
        task_ids=[task.id], updates=tasks_pb2.TaskPatch(completed=struct_pb2.Value(bool_value=True))
    )
    error = rpc_error(lambda: tasks_stub.BulkUpdateTasks(bulk, metadata=bearer_metadata(viewer)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert not get(account).completed
    reply = tasks_stub.BulkUpdateTasks(bulk, metadata=bearer_metadata(editor))
    assert [(row.id, row.completed, row.user_id) for row in reply.tasks] == [(task.id, True, account.id)]
    delete(account)
    assert rpc_error(lambda: get(editor)).code() == grpc.StatusCode.NOT_FOUND
    assert list(shared_with_me(sharing, viewer).tasks) == []
