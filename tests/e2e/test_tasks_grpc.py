"""Tasks as native gRPC through the gateway's port: the same service the JSON clients reach."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from support.accounts import Account, new_account
from support.errors import rpc_error, violated_fields
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

NULL = struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)


def bearer(account: Account) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {account.token}"),)


def text(value: str) -> struct_pb2.Value:
    return struct_pb2.Value(string_value=value)


def strings(*values: str) -> struct_pb2.Value:
    return struct_pb2.Value(list_value=struct_pb2.ListValue(values=[text(v) for v in values]))


@pytest.fixture(scope="module")
def stub(gateway_channel) -> tasks_pb2_grpc.TasksServiceStub:
    return tasks_pb2_grpc.TasksServiceStub(gateway_channel)


def as_task(reply: tasks_pb2.TaskWithComments) -> tasks_pb2.Task:
    """GetTask's reply read as the Task it also is on the wire (its comments: test_task_detail.py)."""
    return tasks_pb2.Task.FromString(reply.SerializeToString())


def create(stub: tasks_pb2_grpc.TasksServiceStub, account: Account, **fields: Any) -> tasks_pb2.Task:
    fields.setdefault("title", "a task")
    return stub.CreateTask(tasks_pb2.CreateTaskRequest(**fields), metadata=bearer(account))


def test_create_applies_the_defaults(stub, account) -> None:
    task = create(stub, account, title="  over grpc  ")
    assert task.id > 0
    assert (task.title, task.priority, task.completed, list(task.tags)) == ("over grpc", "medium", False, [])
    assert task.user_id == account.id
    assert not task.HasField("description")
    assert not task.HasField("due_date")
    assert not task.HasField("updated_at")
    assert task.created_at.seconds > 0


def test_create_with_every_field_then_get(stub, account) -> None:
    task = create(
        stub,
        account,
        title="full",
        description="all of it",
        priority="high",
        due_date="2030-05-17",
        tags=["work"],
        completed=True,
    )
    assert (task.description, task.priority, task.due_date, list(task.tags), task.completed) == (
        "all of it",
        "high",
        "2030-05-17",
        ["work"],
        True,
    )
    assert as_task(stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=bearer(account))) == task


def test_a_task_created_over_grpc_is_the_same_over_json(http, stub, account) -> None:
    task = create(stub, account, title="both ways", tags=["x"])
    response = http.get(f"/tasks/{task.id}", headers=account.headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["title"], body["tags"], body["user_id"]) == (
        task.id,
        "both ways",
        ["x"],
        account.id,
    )


def test_invalid_create_is_invalid_argument_naming_the_field(stub, account) -> None:
    error = rpc_error(lambda: create(stub, account, title="   "))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"title"}


def test_update_with_value_fields(stub, account) -> None:
    task = create(stub, account, title="before", description="old", due_date="2030-01-01", tags=["a"])
    patch = tasks_pb2.TaskPatch(
        title=text("after"),
        description=NULL,
        completed=struct_pb2.Value(bool_value=True),
        tags=strings("b", "c"),
    )
    updated = stub.UpdateTask(tasks_pb2.UpdateTaskRequest(id=task.id, patch=patch), metadata=bearer(account))
    assert (updated.title, updated.completed, sorted(updated.tags)) == ("after", True, ["b", "c"])
    assert not updated.HasField("description")
    assert (updated.due_date, updated.priority) == ("2030-01-01", "medium")  # not sent, unchanged
    assert updated.HasField("updated_at")
    assert updated.created_at == task.created_at


def test_update_null_due_date_clears_it(stub, account) -> None:
    task = create(stub, account, due_date="2030-01-01")
    patch = tasks_pb2.TaskPatch(due_date=NULL)
    updated = stub.UpdateTask(tasks_pb2.UpdateTaskRequest(id=task.id, patch=patch), metadata=bearer(account))
    assert not updated.HasField("due_date")


@pytest.mark.parametrize(
    "patch, field",
    [
        (tasks_pb2.TaskPatch(title=NULL), "title"),
        (tasks_pb2.TaskPatch(completed=NULL), "completed"),
        (tasks_pb2.TaskPatch(priority=NULL), "priority"),
        (tasks_pb2.TaskPatch(title=struct_pb2.Value(number_value=5)), "title"),
        (tasks_pb2.TaskPatch(completed=text("yes")), "completed"),
        (tasks_pb2.TaskPatch(priority=text("urgent")), "priority"),
        (tasks_pb2.TaskPatch(due_date=text("2026-13-01")), "due_date"),
    ],
    ids=[
        "null-title",
        "null-completed",
        "null-priority",
        "title-number",
        "completed-string",
        "priority",
        "date",
    ],
)
def test_invalid_update_is_invalid_argument_naming_the_field(stub, account, patch, field) -> None:
    task = create(stub, account)
    request = tasks_pb2.UpdateTaskRequest(id=task.id, patch=patch)
    error = rpc_error(lambda: stub.UpdateTask(request, metadata=bearer(account)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {name.removeprefix("patch.") for name in violated_fields(error)} == {field}
    assert as_task(stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=bearer(account))) == task


def test_update_without_fields_is_invalid_argument(stub, account) -> None:
    task = create(stub, account)
    request = tasks_pb2.UpdateTaskRequest(id=task.id, patch=tasks_pb2.TaskPatch())
    error = rpc_error(lambda: stub.UpdateTask(request, metadata=bearer(account)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_list_filters_sorts_and_pages(stub, account) -> None:
    for title, priority in [("b", "high"), ("a", "low"), ("c", "high"), ("d", "high")]:
        create(stub, account, title=title, priority=priority)
    request = tasks_pb2.ListTasksRequest(priority="high", sort_by="title", sort_order="desc", skip=1, limit=2)
    reply = stub.ListTasks(request, metadata=bearer(account))
    assert [task.title for task in reply.tasks] == ["c", "b"]
    assert (reply.total, reply.page, reply.pages) == (3, 1, 2)


def test_list_shows_only_the_callers_tasks(http, stub, account) -> None:
    create(stub, account)
    other = new_account(http)
    reply = stub.ListTasks(tasks_pb2.ListTasksRequest(), metadata=bearer(other))
    assert (list(reply.tasks), reply.total) == ([], 0)


def test_delete_then_get_is_not_found(stub, account) -> None:
    task = create(stub, account)
    stub.DeleteTask(tasks_pb2.DeleteTaskRequest(id=task.id), metadata=bearer(account))
    error = rpc_error(lambda: stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=bearer(account)))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_tags_over_grpc(stub, account) -> None:
    task = create(stub, account, tags=["a"])
    added = stub.AddTaskTags(
        tasks_pb2.AddTaskTagsRequest(id=task.id, tags=["b", "a"]), metadata=bearer(account)
    )
    assert sorted(added.tags) == ["a", "b"]
    removed = stub.RemoveTaskTag(
        tasks_pb2.RemoveTaskTagRequest(id=task.id, tag="a"), metadata=bearer(account)
    )
    assert list(removed.tags) == ["b"]
    error = rpc_error(
        lambda: stub.RemoveTaskTag(
            tasks_pb2.RemoveTaskTagRequest(id=task.id, tag="a"), metadata=bearer(account)
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


OPERATIONS: dict[str, Callable[[tasks_pb2_grpc.TasksServiceStub, int], tuple[Callable[..., Any], Any]]] = {
    "get": lambda stub, id_: (stub.GetTask, tasks_pb2.GetTaskRequest(id=id_)),
    "update": lambda stub, id_: (
        stub.UpdateTask,
        tasks_pb2.UpdateTaskRequest(id=id_, patch=tasks_pb2.TaskPatch(title=text("hijacked"))),
    ),
    "delete": lambda stub, id_: (stub.DeleteTask, tasks_pb2.DeleteTaskRequest(id=id_)),
    "add_tags": lambda stub, id_: (stub.AddTaskTags, tasks_pb2.AddTaskTagsRequest(id=id_, tags=["hijacked"])),
    "remove_tag": lambda stub, id_: (stub.RemoveTaskTag, tasks_pb2.RemoveTaskTagRequest(id=id_, tag="mine")),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_another_users_task_is_not_found(http, stub, account, operation) -> None:
    task = create(stub, account, tags=["mine"])
    stranger = new_account(http)
    method, request = OPERATIONS[operation](stub, task.id)
    error = rpc_error(lambda: method(request, metadata=bearer(stranger)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert as_task(stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=bearer(account))) == task


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_missing_token_is_unauthenticated(stub, account, operation) -> None:
    task = create(stub, account, tags=["mine"])
    method, request = OPERATIONS[operation](stub, task.id)
    error = rpc_error(lambda: method(request))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert as_task(stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=bearer(account))) == task
