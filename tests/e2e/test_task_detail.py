"""GET /tasks/{id} embeds the task's comments, oldest first, as `comments` (API.md, as the original
did); the lists (GET /tasks, shared-with-me, bulk) carry plain tasks without them. Over native gRPC
GetTask answers a TaskWithComments, which a client built for the Task reply still decodes."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from support.accounts import Account, bearer_metadata, new_account
from support.comments import create_comment, remove_comment
from support.errors import assert_status_body, rpc_error
from support.sharing import share_task, shared_with_me
from support.tasks import bulk_update, create_task, get_task_detail, list_tasks
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

MISSING_ID = 2_147_483_647  # the largest int32: no task has that id
TASK_FIELDS = {"id", "title", "completed", "priority", "tags", "user_id", "created_at"}


@pytest.fixture(scope="module")
def owner(http) -> Account:
    return new_account(http)


@pytest.fixture(scope="module")
def viewer(http) -> Account:
    return new_account(http)


@pytest.fixture(scope="module")
def stub(gateway_channel) -> tasks_pb2_grpc.TasksServiceStub:
    return tasks_pb2_grpc.TasksServiceStub(gateway_channel)


@pytest.fixture(scope="module")
def discussed(http, owner: Account, viewer: Account) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A task of owner's, shared with viewer (view), with comments by both, and the comments."""
    task = create_task(http, owner, title="discussed", description="d", tags=["a"], due_date="2030-01-02")
    share_task(http, owner, task["id"], viewer.username, "view")
    other = create_task(http, owner, title="elsewhere")
    create_comment(http, owner, other["id"], "not on this task")
    comments = [
        create_comment(http, who, task["id"], f"comment {n}") for n, who in enumerate([owner, viewer, owner])
    ]
    return task, comments


def without_comments(detail: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in detail.items() if key != "comments"}


def test_get_embeds_the_comments_oldest_first(http, owner: Account, discussed) -> None:
    task, comments = discussed
    detail = get_task_detail(http, owner, task["id"])
    assert detail["comments"] == comments
    assert [c["content"] for c in detail["comments"]] == ["comment 0", "comment 1", "comment 2"]
    assert without_comments(detail) == task


def test_a_task_without_comments_embeds_an_empty_list(http, owner: Account) -> None:
    task = create_task(http, owner, title="quiet")
    assert get_task_detail(http, owner, task["id"]) == {**task, "comments": []}


def test_edits_and_deletions_show_in_the_embedded_comments(http, owner: Account) -> None:
    task = create_task(http, owner, title="edited")
    first, second = (create_comment(http, owner, task["id"], text) for text in ("first", "second"))
    edited = http.patch(f"/comments/{first['id']}", json={"content": "first, edited"}, headers=owner.headers)
    assert edited.status_code == 200, edited.text
    assert remove_comment(http, owner, second["id"], task["id"]).status_code == 204
    assert get_task_detail(http, owner, task["id"])["comments"] == [edited.json()]


def test_every_comment_is_embedded_not_a_page(http, owner: Account) -> None:
    task = create_task(http, owner, title="busy")
    ids = [create_comment(http, owner, task["id"], f"c{n}")["id"] for n in range(120)]
    assert [c["id"] for c in get_task_detail(http, owner, task["id"])["comments"]] == ids


def test_lists_carry_no_comments(http, owner: Account, viewer: Account, discussed) -> None:
    task, _ = discussed
    listed = [t for t in list_tasks(http, owner)["tasks"] if t["id"] == task["id"]]
    assert listed == [task]
    assert all("comments" not in t for t in list_tasks(http, owner)["tasks"])
    assert all("comments" not in t for t in shared_with_me(http, viewer))
    updated = bulk_update(http, owner, [task["id"]], {"description": "d"})
    assert updated.status_code == 200, updated.text
    assert all("comments" not in t for t in updated.json())
    assert (
        "comments"
        not in http.patch(f"/tasks/{task['id']}", json={"description": "d"}, headers=owner.headers).json()
    )


def test_a_sharee_with_view_sees_the_comments(http, viewer: Account, discussed) -> None:
    task, comments = discussed
    detail = get_task_detail(http, viewer, task["id"])
    assert detail["comments"] == comments


def test_a_stranger_and_a_missing_task_are_404(http, discussed) -> None:
    task, _ = discussed
    stranger = new_account(http)
    hidden = assert_status_body(http.get(f"/tasks/{task['id']}", headers=stranger.headers), 404, 5)
    missing = assert_status_body(http.get(f"/tasks/{MISSING_ID}", headers=stranger.headers), 404, 5)
    assert "comment" not in hidden["message"]
    assert hidden["message"].replace(str(task["id"]), "N") == missing["message"].replace(str(MISSING_ID), "N")


def test_no_token_is_401(http, discussed) -> None:
    task, _ = discussed
    assert_status_body(http.get(f"/tasks/{task['id']}"), 401, 16)


# -- native gRPC ------------------------------------------------------------------------------------
def test_grpc_get_task_embeds_the_comments(stub, viewer: Account, discussed) -> None:
    task, comments = discussed
    reply = stub.GetTask(tasks_pb2.GetTaskRequest(id=task["id"]), metadata=bearer_metadata(viewer))
    assert isinstance(reply, tasks_pb2.TaskWithComments)
    assert (reply.id, reply.title, reply.description, list(reply.tags)) == (
        task["id"],
        "discussed",
        "d",
        ["a"],
    )
    assert [(c.id, c.content, c.user_id) for c in reply.comments] == [
        (c["id"], c["content"], c["user_id"]) for c in comments
    ]


def test_the_reply_still_reads_as_a_task(stub, owner: Account, discussed) -> None:
    """A client built when GetTask answered a Task decodes the same bytes: fields 1-11 unchanged."""
    task, _ = discussed
    reply = stub.GetTask(tasks_pb2.GetTaskRequest(id=task["id"]), metadata=bearer_metadata(owner))
    as_task = tasks_pb2.Task.FromString(reply.SerializeToString())
    assert (as_task.id, as_task.title, as_task.description, as_task.due_date) == (
        task["id"],
        "discussed",
        "d",
        "2030-01-02",
    )
    assert (list(as_task.tags), as_task.user_id, as_task.completed) == (["a"], task["user_id"], False)
    assert as_task.created_at == reply.created_at
    assert not as_task.HasField("permission")


def test_task_with_comments_repeats_tasks_fields_under_the_same_numbers() -> None:
    def fields(message: Any) -> dict[int, tuple[Any, ...]]:
        return {
            f.number: (f.name, f.type, f.is_repeated, f.has_presence, f.message_type)
            for f in message.DESCRIPTOR.fields
        }

    task, detail = fields(tasks_pb2.Task), fields(tasks_pb2.TaskWithComments)
    assert {n: v for n, v in detail.items() if n in task} == task
    assert set(detail) - set(task) == {12}
    assert detail[12][0] == "comments" and detail[12][4] is tasks_pb2.Comment.DESCRIPTOR


def test_grpc_get_task_of_a_stranger_or_missing_is_not_found(http, stub, discussed) -> None:
    task, _ = discussed
    stranger = new_account(http)
    for task_id in (task["id"], MISSING_ID):
        error = rpc_error(
            lambda task_id=task_id: stub.GetTask(
                tasks_pb2.GetTaskRequest(id=task_id), metadata=bearer_metadata(stranger)
            )
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND


def test_fields_every_task_json_has_are_kept(http, owner: Account, discussed) -> None:
    task, _ = discussed
    assert set(get_task_detail(http, owner, task["id"])) >= TASK_FIELDS
