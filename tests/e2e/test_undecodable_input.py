"""Bytes that are not what a field may hold are a 400 naming the field, on both transports, and no
answer carries exception text, internal type names or unbounded echoes of the input."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest

from support.accounts import Account, bearer_metadata, new_account
from support.errors import assert_bad_request, rpc_error, violated_fields
from support.tasks import create_task

INTERNALS = ("Error", "Exception", "Unexpected", "taskmanager.", "Traceback", "DecodeError")


def assert_no_internals(text: str) -> None:
    for word in INTERNALS:
        assert word not in text, text


@pytest.fixture
def task(http: httpx.Client, account: Account) -> dict[str, Any]:
    return create_task(http, account, title="t", tags=["home"])


@pytest.mark.parametrize(
    "method, path, field",
    [
        ("GET", "/tasks?search=%ff", "search"),
        ("GET", "/tasks?tags=a%ff", "tags"),
        ("GET", "/tasks?priority=%c3%28", "priority"),
        ("DELETE", "/tasks/{id}/tags/%ff", "tag"),
        ("PUT", "/tasks/{id}/share/%ff", "username"),
        ("DELETE", "/tasks/{id}/share/%ed%a0%80", "username"),  # a UTF-8 encoded lone surrogate
        ("GET", "/activity?action=%ff", "action"),
    ],
)
def test_invalid_utf8_in_a_path_or_query_is_a_400_naming_it(
    http: httpx.Client, account: Account, task: dict[str, Any], method: str, path: str, field: str
) -> None:
    body = {"permission": "edit"} if method == "PUT" else None
    response = http.request(method, path.format(id=task["id"]), json=body, headers=account.headers)
    assert_bad_request(response, field)
    assert_no_internals(response.text)


def test_an_upload_name_that_is_not_utf8_is_a_400(
    http: httpx.Client, account: Account, task: dict[str, Any]
) -> None:
    response = http.post(
        f"/tasks/{task['id']}/files?filename=%ff.txt",
        content=b"hello",
        headers={**account.headers, "content-type": "text/plain"},
    )
    assert_bad_request(response, "filename")
    assert_no_internals(response.text)
    assert http.get(f"/tasks/{task['id']}/files", headers=account.headers).json() == []


def _raw_call(channel: grpc.Channel, method: str) -> Any:
    """A unary call whose request is sent as the raw bytes given."""
    return channel.unary_unary(method, request_serializer=lambda raw: raw, response_deserializer=bytes)


def test_native_grpc_login_with_bad_bytes_is_invalid_argument_without_a_token(gateway_channel) -> None:
    login = _raw_call(gateway_channel, "/taskmanager.auth.v1.AuthService/Login")
    # field 1 (username), 1 byte: 0xff; field 2 (password): "x"
    error = rpc_error(lambda: login(b"\x0a\x01\xff\x12\x01x", timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"username"}
    assert_no_internals(error.details())


def test_native_grpc_bad_bytes_in_a_nested_field_name_the_path(gateway_channel, http) -> None:
    account = new_account(http)
    bulk = _raw_call(gateway_channel, "/taskmanager.tasks.v1.TasksService/BulkUpdateTasks")
    # task_ids [1] (field 1, packed), updates (field 2) {title (field 1): Value {string_value (3): 0xff}}
    request = b"\x0a\x01\x01" + b"\x12\x05" + b"\x0a\x03" + b"\x1a\x01\xff"
    error = rpc_error(lambda: bulk(request, metadata=bearer_metadata(account), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"updates.title"}


def test_native_grpc_bytes_that_are_no_message_at_all_are_invalid_argument(gateway_channel) -> None:
    login = _raw_call(gateway_channel, "/taskmanager.auth.v1.AuthService/Login")
    error = rpc_error(lambda: login(b"\x0a\x7f" + b"x" * 3, timeout=10))  # length past the end
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert_no_internals(error.details())


def test_an_unauthenticated_caller_learns_nothing_about_its_bytes(gateway_channel) -> None:
    search = _raw_call(gateway_channel, "/taskmanager.tasks.v1.TasksService/ListTasks")
    error = rpc_error(lambda: search(b"\x2a\x01\xff", timeout=10))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_native_grpc_upload_with_a_bad_name_is_invalid_argument(gateway_channel, http) -> None:
    from taskmanager.files.v1 import files_pb2

    account = new_account(http)
    task = create_task(http, account, title="t")
    upload = gateway_channel.stream_unary(
        "/taskmanager.files.v1.FilesService/UploadFile",
        request_serializer=lambda raw: raw,
        response_deserializer=bytes,
    )
    metadata = files_pb2.UploadFileMetadata(task_id=task["id"], filename="\x01.txt")
    first = files_pb2.UploadFileRequest(metadata=metadata).SerializeToString()
    first = first.replace(b"\x01.txt", b"\xff.txt")  # the same length, no longer UTF-8
    chunk = files_pb2.UploadFileRequest(chunk=b"hi").SerializeToString()
    error = rpc_error(lambda: upload(iter([first, chunk]), metadata=bearer_metadata(account), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"metadata.filename"}


def test_a_multipart_boundary_over_256_characters_is_a_400(
    http: httpx.Client, account: Account, task: dict[str, Any]
) -> None:
    boundary = "b" * 300
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    response = http.post(
        f"/tasks/{task['id']}/files",
        content=body,
        headers={**account.headers, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_bad_request(response, "file")
    assert_no_internals(response.text)
    assert boundary not in response.text


@pytest.mark.parametrize("path", ["/tasks/{id}/share"])
def test_a_very_long_share_username_is_a_400_that_does_not_echo_it(
    http: httpx.Client, account: Account, task: dict[str, Any], path: str
) -> None:
    name = "x" * 8000
    response = http.post(
        path.format(id=task["id"]),
        json={"shared_with_username": name, "permission": "view"},
        headers=account.headers,
    )
    assert_bad_request(response, "shared_with_username")
    assert len(response.content) < 1000


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_very_long_username_in_a_share_path_is_a_400(
    http: httpx.Client, account: Account, task: dict[str, Any], method: str
) -> None:
    body = {"permission": "edit"} if method == "PUT" else None
    response = http.request(
        method, f"/tasks/{task['id']}/share/{'y' * 4000}", json=body, headers=account.headers
    )
    assert_bad_request(response, "username")
    assert len(response.content) < 1000


def test_a_very_long_tag_to_remove_is_a_400_that_does_not_echo_it(
    http: httpx.Client, account: Account, task: dict[str, Any]
) -> None:
    response = http.delete(f"/tasks/{task['id']}/tags/{'t' * 4000}", headers=account.headers)
    assert_bad_request(response, "tag")
    assert len(response.content) < 1000


def test_a_long_username_over_native_grpc_is_invalid_argument(gateway_channel, http) -> None:
    from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

    account = new_account(http)
    task = create_task(http, account, title="t")
    stub = tasks_pb2_grpc.SharingServiceStub(gateway_channel)
    request = tasks_pb2.ShareTaskRequest(task_id=task["id"], shared_with_username="z" * 20_000)
    error = rpc_error(lambda: stub.ShareTask(request, metadata=bearer_metadata(account), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"shared_with_username"}
    assert len(error.details()) < 1000
