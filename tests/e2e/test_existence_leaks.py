"""Whoever may not see a resource learns nothing about it: on every route that names one, a
stranger's answer for a real task, comment or file is byte for byte the answer for the same id once
it no longer exists (JSON), and the same status, message and details over native gRPC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest

from support.accounts import Account, bearer_metadata, new_account
from support.comments import create_comment
from support.files import upload_raw, uploaded_file
from support.sharing import share_task
from support.tasks import create_task
from taskmanager.activity.v1 import activity_pb2, activity_pb2_grpc
from taskmanager.files.v1 import files_pb2, files_pb2_grpc
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

# Headers that differ between any two answers, whatever they say.
PER_RESPONSE = {"date", "x-request-id"}

# (method, path, JSON body) with {task}, {comment}, {file} and {viewer} filled in.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/tasks/{task}", None),
    ("PATCH", "/tasks/{task}", {"title": "mine now"}),
    ("DELETE", "/tasks/{task}", None),
    ("PATCH", "/tasks/bulk", {"task_ids": ["{task}"], "updates": {"completed": True}}),
    ("POST", "/tasks/{task}/tags", ["x"]),
    ("DELETE", "/tasks/{task}/tags/home", None),
    ("POST", "/tasks/{task}/share", {"shared_with_username": "{viewer}", "permission": "edit"}),
    ("PUT", "/tasks/{task}/share/{viewer}", {"permission": "edit"}),
    ("DELETE", "/tasks/{task}/share/{viewer}", None),
    ("GET", "/tasks/{task}/comments", None),
    ("POST", "/tasks/{task}/comments", {"content": "hello"}),
    ("PATCH", "/tasks/{task}/comments/{comment}", {"content": "edited"}),
    ("DELETE", "/tasks/{task}/comments/{comment}", None),
    ("PATCH", "/comments/{comment}", {"content": "edited"}),
    ("DELETE", "/comments/{comment}", None),
    ("GET", "/tasks/{task}/files", None),
    ("GET", "/files/{file}", None),
    ("DELETE", "/files/{file}", None),
    ("POST", "/files/{file}/download-url", None),
    ("GET", "/activity/tasks/{task}", None),
]


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        filled = value.format(**ids)
        return int(filled) if value in ("{task}", "{comment}", "{file}") else filled
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in PER_RESPONSE)
    return response.status_code, headers, response.content


def _rpc_answer(call: Callable[[], Any]) -> tuple[Any, str, list[tuple[str, Any]]]:
    try:
        call()
    except grpc.RpcError as error:
        trailers = [(k, v) for k, v in (error.trailing_metadata() or ()) if k not in PER_RESPONSE]
        return error.code(), error.details(), trailers
    raise AssertionError("a stranger's call succeeded")


@pytest.fixture
def world(http: httpx.Client, stack) -> dict[str, Any]:
    """An owner's task with a comment, a file and a viewer; and a stranger."""
    owner, viewer, stranger = new_account(http), new_account(http), new_account(http)
    task = create_task(http, owner, title="secret", tags=["home"])
    share_task(http, owner, task["id"], viewer.username, "view")
    comment = create_comment(http, owner, task["id"], "a comment")
    file = uploaded_file(upload_raw(http, owner, task["id"], b"hello", "a.txt", "text/plain"))
    ids = {"task": task["id"], "comment": comment["id"], "file": file["id"], "viewer": viewer.username}
    return {"owner": owner, "stranger": stranger, "ids": ids}


def _delete_everything(http: httpx.Client, owner: Account, ids: dict[str, Any]) -> None:
    assert http.delete(f"/files/{ids['file']}", headers=owner.headers).status_code == 204
    assert http.delete(f"/comments/{ids['comment']}", headers=owner.headers).status_code == 204
    assert http.delete(f"/tasks/{ids['task']}", headers=owner.headers).status_code == 204


def test_a_stranger_cannot_tell_a_real_resource_from_a_missing_one(http: httpx.Client, world) -> None:
    stranger, ids = world["stranger"], world["ids"]

    def ask() -> list[tuple[int, list[tuple[str, str]], bytes]]:
        return [
            _answer(http.request(m, p.format(**ids), json=_fill(b, ids), headers=stranger.headers))
            for m, p, b in ROUTES
        ]

    while_real = ask()
    _delete_everything(http, world["owner"], ids)
    once_gone = ask()
    for (method, path, _), real, gone in zip(ROUTES, while_real, once_gone, strict=True):
        assert real[0] in (400, 404), (method, path, real)
        assert real == gone, f"{method} {path}: {real} != {gone}"


def test_over_native_grpc_too(gateway_channel, http: httpx.Client, world) -> None:
    stranger, ids = world["stranger"], world["ids"]
    md = bearer_metadata(stranger)
    tasks = tasks_pb2_grpc.TasksServiceStub(gateway_channel)
    comments = tasks_pb2_grpc.CommentsServiceStub(gateway_channel)
    sharing = tasks_pb2_grpc.SharingServiceStub(gateway_channel)
    files = files_pb2_grpc.FilesServiceStub(gateway_channel)
    activity = activity_pb2_grpc.ActivityServiceStub(gateway_channel)
    calls: list[Callable[[], Any]] = [
        lambda: tasks.GetTask(tasks_pb2.GetTaskRequest(id=ids["task"]), metadata=md, timeout=10),
        lambda: tasks.DeleteTask(tasks_pb2.DeleteTaskRequest(id=ids["task"]), metadata=md, timeout=10),
        lambda: sharing.UnshareTask(
            tasks_pb2.UnshareTaskRequest(task_id=ids["task"], username=ids["viewer"]), metadata=md, timeout=10
        ),
        lambda: comments.DeleteComment(
            tasks_pb2.DeleteCommentRequest(comment_id=ids["comment"]), metadata=md, timeout=10
        ),
        lambda: comments.UpdateComment(
            tasks_pb2.UpdateCommentRequest(comment_id=ids["comment"], content="x"), metadata=md, timeout=10
        ),
        lambda: list(
            files.DownloadFile(files_pb2.DownloadFileRequest(id=ids["file"]), metadata=md, timeout=10)
        ),
        lambda: files.DeleteFile(files_pb2.DeleteFileRequest(id=ids["file"]), metadata=md, timeout=10),
        lambda: activity.GetTaskTimeline(
            activity_pb2.GetTaskTimelineRequest(task_id=ids["task"]), metadata=md, timeout=10
        ),
    ]
    while_real = [_rpc_answer(call) for call in calls]
    _delete_everything(http, world["owner"], ids)
    once_gone = [_rpc_answer(call) for call in calls]
    for real, gone in zip(while_real, once_gone, strict=True):
        assert real[0] == grpc.StatusCode.NOT_FOUND, real
        assert real == gone
