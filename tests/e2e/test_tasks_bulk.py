"""PATCH /tasks/bulk through the gateway (JSON and native gRPC): one patch applied to several of the
caller's own tasks in one transaction, all or nothing, at most 100 ids.

Every test registers its own users and checks every task afterwards, so "nothing changed" is proven
on the stored tasks, not on the answer."""

from __future__ import annotations

import re
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from support.accounts import Account, bearer_metadata, new_account
from support.errors import (
    assert_bad_request,
    assert_status_body,
    field_violations,
    rpc_error,
    violated_fields,
)
from support.tasks import INVALID_PATCHES, TASK_OPTIONAL, TASK_REQUIRED, bulk_update, create_task, get_task
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

MISSING_ID = 2_147_483_647  # the largest int32: no task has that id
MAX_IDS = 100

ORIGINALS: list[dict[str, Any]] = [
    {"title": "alpha", "description": "first", "priority": "low", "due_date": "2030-01-01", "tags": ["a"]},
    {"title": "beta", "priority": "high", "tags": ["b", "c"], "completed": True},
    {"title": "gamma", "due_date": "2031-06-15"},
]


@pytest.fixture
def tasks(http, account) -> list[dict[str, Any]]:
    """Three tasks of `account`, as POST answered them."""
    return [create_task(http, account, **fields) for fields in ORIGINALS]


def normal(task: dict[str, Any]) -> dict[str, Any]:
    """The task with its tags in a fixed order (their order is not contracted)."""
    return {**task, "tags": sorted(task["tags"])}


def without_updated_at(task: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in normal(task).items() if key != "updated_at"}


def assert_unchanged(http, account: Account, tasks: list[dict[str, Any]]) -> None:
    """Every task reads back exactly as given (no updated_at either: never updated)."""
    for task in tasks:
        assert normal(get_task(http, account, task["id"])) == normal(task)


def names(message: str, task_id: int) -> bool:
    """Whether an error message names this id (as a whole number, not part of another)."""
    return re.search(rf"(?<!\d){task_id}(?!\d)", message) is not None


def update_violations(fields: set[str]) -> set[str]:
    """Fields named by a bulk BadRequest; the request nests the patch under `updates`, so
    `updates.title` and `title` both name what the JSON client sent."""
    return {field.removeprefix("updates.") for field in fields}


# -- success ---------------------------------------------------------------------------------
def test_bulk_answers_the_updated_tasks_in_the_order_of_task_ids(http, account, tasks) -> None:
    untouched = create_task(http, account, title="not in the batch")
    order = [tasks[1]["id"], tasks[2]["id"], tasks[0]["id"]]
    response = bulk_update(http, account, order, {"completed": True, "priority": "medium"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert isinstance(answer, list), answer  # a bare array, as the original API
    assert [task["id"] for task in answer] == order
    by_id = {task["id"]: task for task in tasks}
    for task in answer:
        assert TASK_REQUIRED <= set(task) <= TASK_REQUIRED | TASK_OPTIONAL, task
        assert task["user_id"] == account.id
        original = by_id[task["id"]]
        assert without_updated_at(task) == without_updated_at(
            {**original, "completed": True, "priority": "medium"}
        )
        assert "updated_at" in task
        assert task["created_at"] == original["created_at"]
        assert normal(get_task(http, account, task["id"])) == normal(task)
    assert_unchanged(http, account, [untouched])


@pytest.mark.parametrize(
    "updates, change",
    [
        ({"title": "  Renamed  "}, {"title": "Renamed"}),
        ({"description": "shared text"}, {"description": "shared text"}),
        ({"completed": False}, {"completed": False}),
        ({"priority": "high"}, {"priority": "high"}),
        ({"due_date": "2040-02-29"}, {"due_date": "2040-02-29"}),
        ({"tags": ["x", "y"]}, {"tags": ["x", "y"]}),
        ({"tags": []}, {"tags": []}),
        ({"tags": None}, {"tags": []}),
        (
            {"title": "All", "completed": True, "priority": "low", "tags": ["z"]},
            {"title": "All", "completed": True, "priority": "low", "tags": ["z"]},
        ),
    ],
    ids=[
        "title-trimmed",
        "description",
        "completed",
        "priority",
        "due_date",
        "tags",
        "tags-empty",
        "tags-null",
        "several",
    ],
)
def test_bulk_applies_the_patch_to_every_task(http, account, tasks, updates, change) -> None:
    ids = [task["id"] for task in tasks]
    response = bulk_update(http, account, ids, updates)
    assert response.status_code == 200, response.text
    assert [task["id"] for task in response.json()] == ids
    for original in tasks:
        stored = get_task(http, account, original["id"])
        assert without_updated_at(stored) == without_updated_at({**original, **change})


@pytest.mark.parametrize("field", ["description", "due_date"])
def test_bulk_null_clears_an_optional_field(http, account, tasks, field) -> None:
    ids = [task["id"] for task in tasks]
    response = bulk_update(http, account, ids, {field: None})
    assert response.status_code == 200, response.text
    for original in tasks:
        stored = get_task(http, account, original["id"])
        assert field not in stored
        expected = {key: value for key, value in original.items() if key != field}
        assert without_updated_at(stored) == without_updated_at(expected)


def test_bulk_of_one_task(http, account, tasks) -> None:
    response = bulk_update(http, account, [tasks[0]["id"]], {"title": "only me"})
    assert response.status_code == 200, response.text
    assert [task["title"] for task in response.json()] == ["only me"]
    assert get_task(http, account, tasks[0]["id"])["title"] == "only me"
    assert_unchanged(http, account, tasks[1:])


def test_duplicate_ids_are_accepted(http, account, tasks) -> None:
    first, second = tasks[0]["id"], tasks[1]["id"]
    response = bulk_update(http, account, [first, second, first], {"priority": "high", "tags": ["dup"]})
    assert response.status_code == 200, response.text  # what the answer lists is not contracted
    for task_id in (first, second):
        stored = get_task(http, account, task_id)
        assert (stored["priority"], stored["tags"]) == ("high", ["dup"])
    assert_unchanged(http, account, tasks[2:])


def test_the_batch_size_is_bounded_at_100_ids(http, account) -> None:
    created = [create_task(http, account) for _ in range(MAX_IDS + 1)]
    ids = [task["id"] for task in created]
    assert_bad_request(bulk_update(http, account, ids, {"completed": True}), "task_ids")
    assert_unchanged(http, account, created)
    response = bulk_update(http, account, ids[:MAX_IDS], {"completed": True})
    assert response.status_code == 200, response.text
    assert [task["id"] for task in response.json()] == ids[:MAX_IDS]
    assert all(get_task(http, account, task_id)["completed"] for task_id in ids[:MAX_IDS])
    assert_unchanged(http, account, created[MAX_IDS:])


# -- all or nothing --------------------------------------------------------------------------
@pytest.mark.parametrize("position", [0, 1, 3], ids=["first", "middle", "last"])
def test_a_missing_id_fails_the_whole_batch(http, account, tasks, position) -> None:
    ids = [task["id"] for task in tasks]
    ids.insert(position, MISSING_ID)
    body = assert_status_body(bulk_update(http, account, ids, {"title": "changed"}), 404, 5)
    assert names(body["message"], MISSING_ID), body
    assert_unchanged(http, account, tasks)


@pytest.mark.parametrize("position", [0, 1, 3], ids=["first", "middle", "last"])
def test_another_users_id_fails_the_whole_batch(http, account, tasks, position) -> None:
    stranger = new_account(http)
    foreign = create_task(http, stranger, title="not yours", tags=["theirs"])
    ids = [task["id"] for task in tasks]
    ids.insert(position, foreign["id"])
    body = assert_status_body(bulk_update(http, account, ids, {"completed": True, "tags": []}), 404, 5)
    assert names(body["message"], foreign["id"]), body
    assert_unchanged(http, account, tasks)
    assert_unchanged(http, stranger, [foreign])


def test_another_users_id_looks_like_a_missing_one(http, account, tasks) -> None:
    stranger = new_account(http)
    foreign = create_task(http, stranger)
    first = tasks[0]["id"]
    body_foreign = assert_status_body(
        bulk_update(http, account, [first, foreign["id"]], {"title": "x"}), 404, 5
    )
    body_missing = assert_status_body(bulk_update(http, account, [first, MISSING_ID], {"title": "x"}), 404, 5)
    assert body_foreign["message"].replace(str(foreign["id"]), "N") == body_missing["message"].replace(
        str(MISSING_ID), "N"
    )
    assert_unchanged(http, account, tasks)


def test_a_stranger_cannot_bulk_update_my_tasks(http, account, tasks) -> None:
    stranger = new_account(http)
    own = create_task(http, stranger)
    ids = [task["id"] for task in tasks]
    body = assert_status_body(bulk_update(http, stranger, ids, {"title": "hijacked"}), 404, 5)
    assert any(names(body["message"], task_id) for task_id in ids), body
    body = assert_status_body(bulk_update(http, stranger, [own["id"], *ids], {"title": "hijacked"}), 404, 5)
    assert any(names(body["message"], task_id) for task_id in ids), body
    assert_unchanged(http, account, tasks)
    assert_unchanged(http, stranger, [own])


def test_a_deleted_id_fails_the_whole_batch(http, account, tasks) -> None:
    gone = create_task(http, account)
    assert http.delete(f"/tasks/{gone['id']}", headers=account.headers).status_code == 204
    ids = [task["id"] for task in tasks] + [gone["id"]]
    body = assert_status_body(bulk_update(http, account, ids, {"priority": "high"}), 404, 5)
    assert names(body["message"], gone["id"]), body
    assert_unchanged(http, account, tasks)


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [{"task_ids": [], "updates": {"completed": True}}, {"updates": {"completed": True}}],
    ids=["empty", "absent"],
)
def test_no_ids_is_400_naming_task_ids(http, account, tasks, body) -> None:
    assert_bad_request(http.patch("/tasks/bulk", json=body, headers=account.headers), "task_ids")
    assert_unchanged(http, account, tasks)


@pytest.mark.parametrize(
    "updates, field",
    [
        *INVALID_PATCHES,
        pytest.param({"title": "fine", "priority": "urgent"}, "priority", id="valid-and-invalid"),
    ],
)
def test_invalid_updates_are_400_naming_the_field_and_change_nothing(
    http, account, tasks, updates, field
) -> None:
    response = bulk_update(http, account, [task["id"] for task in tasks], updates)
    body = assert_status_body(response, 400, 3)
    assert update_violations(field_violations(body)) == {field}, body
    assert_unchanged(http, account, tasks)


@pytest.mark.parametrize(
    "body",
    [
        {"updates": {}},
        {},
    ],
    ids=["empty-updates", "no-updates"],
)
def test_updates_without_fields_are_400(http, account, tasks, body) -> None:
    request = {"task_ids": [task["id"] for task in tasks], **body}
    assert_status_body(http.patch("/tasks/bulk", json=request, headers=account.headers), 400, 3)
    assert_unchanged(http, account, tasks)


@pytest.mark.parametrize("authorization", [None, "Bearer abc.def"], ids=["no-token", "garbled-token"])
def test_unauthenticated_bulk_is_401_and_changes_nothing(http, account, tasks, authorization) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    request = {"task_ids": [task["id"] for task in tasks], "updates": {"title": "anonymous"}}
    assert_status_body(http.patch("/tasks/bulk", json=request, headers=headers), 401, 16)
    assert_unchanged(http, account, tasks)


def test_a_single_task_is_still_patched_at_its_own_path(http, account, tasks) -> None:
    """/tasks/bulk must not shadow PATCH /tasks/{id}, nor the other way round."""
    response = http.patch(f"/tasks/{tasks[0]['id']}", json={"title": "single"}, headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "single"
    assert_unchanged(http, account, tasks[1:])


# -- native gRPC -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stub(gateway_channel) -> tasks_pb2_grpc.TasksServiceStub:
    return tasks_pb2_grpc.TasksServiceStub(gateway_channel)


def test_grpc_bulk_update(http, stub, account, tasks) -> None:
    order = [tasks[2]["id"], tasks[0]["id"]]
    patch = tasks_pb2.TaskPatch(
        completed=struct_pb2.Value(bool_value=True), due_date=struct_pb2.Value(null_value=0)
    )
    reply = stub.BulkUpdateTasks(
        tasks_pb2.BulkUpdateTasksRequest(task_ids=order, updates=patch), metadata=bearer_metadata(account)
    )
    assert [task.id for task in reply.tasks] == order
    assert all(task.completed and not task.HasField("due_date") for task in reply.tasks)
    for task_id in order:
        stored = get_task(http, account, task_id)
        assert stored["completed"] is True
        assert "due_date" not in stored
    assert_unchanged(http, account, [tasks[1]])


def test_grpc_bulk_with_another_users_id_is_not_found_and_changes_nothing(http, stub, account, tasks) -> None:
    stranger = new_account(http)
    foreign = create_task(http, stranger)
    request = tasks_pb2.BulkUpdateTasksRequest(
        task_ids=[tasks[0]["id"], foreign["id"]],
        updates=tasks_pb2.TaskPatch(title=struct_pb2.Value(string_value="changed")),
    )
    error = rpc_error(lambda: stub.BulkUpdateTasks(request, metadata=bearer_metadata(account)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert names(error.details() or "", foreign["id"]), error.details()
    assert_unchanged(http, account, tasks)
    assert_unchanged(http, stranger, [foreign])


@pytest.mark.parametrize("count", [0, MAX_IDS + 1], ids=["none", "101"])
def test_grpc_bulk_size_is_invalid_argument_naming_task_ids(http, stub, account, tasks, count) -> None:
    tasks = tasks + [create_task(http, account) for _ in range(count - len(tasks))]
    ids = [task["id"] for task in tasks][:count]
    request = tasks_pb2.BulkUpdateTasksRequest(
        task_ids=ids, updates=tasks_pb2.TaskPatch(title=struct_pb2.Value(string_value="changed"))
    )
    error = rpc_error(lambda: stub.BulkUpdateTasks(request, metadata=bearer_metadata(account)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"task_ids"}
    assert_unchanged(http, account, tasks)


def test_grpc_bulk_invalid_patch_names_the_field(http, stub, account, tasks) -> None:
    request = tasks_pb2.BulkUpdateTasksRequest(
        task_ids=[task["id"] for task in tasks],
        updates=tasks_pb2.TaskPatch(
            title=struct_pb2.Value(string_value="fine"), priority=struct_pb2.Value(string_value="urgent")
        ),
    )
    error = rpc_error(lambda: stub.BulkUpdateTasks(request, metadata=bearer_metadata(account)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert update_violations(violated_fields(error)) == {"priority"}
    assert_unchanged(http, account, tasks)
