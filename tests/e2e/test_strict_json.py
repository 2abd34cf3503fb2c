"""Strict JSON types through the gateway (API.md: a wrong JSON type is a 400, never coerced).

Envoy's transcoder alone took "yes" for true and a scalar for a list; the gateway's Lua filter
(gateway/lua/json_types.lua) now refuses every body that does not follow the proto3 JSON mapping
before it is transcoded: a 400 google.rpc.Status whose BadRequest names the field, and nothing
written. Every boolean, number, list, object and string field of every public route with a JSON
body is tried with the wrong types; the standard forms (int32 as a string, camelCase names, null
for an optional field) still work."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from support.accounts import Account, new_account, new_user, unique
from support.errors import assert_bad_request, assert_status_body
from support.notify import notify_preferences
from support.sharing import share_task, shared_with_me
from support.tasks import create_task, get_task, list_tasks

NOT_BOOLS = ["yes", "true", "false", "1", 1, 0, 1.5, [True], {}]
NOT_STRINGS = [5, 1.5, True, ["a"], {}]
NOT_LISTS = ["solo", 1, True, {"a": "b"}]
NOT_STRING_ITEMS = [[None], [["a"]], [1], [True], [{}]]  # the first element is wrong: "<list>[0]"
NOT_INT32 = [1.5, "1.5", "1.0", "abc", "", " 1", True, [1], {}, 2147483648, "2147483648", -2147483649, 1e10]
NOT_OBJECTS = ["x", 5, True, []]
PREFERENCES = [
    "email_enabled",
    "task_shared_with_me",
    "task_completed",
    "comment_on_my_task",
    "task_due_soon",
]


def send(
    http: httpx.Client, method: str, path: str, body: Any, account: Account | None = None
) -> httpx.Response:
    """`body` as JSON (bytes are sent as they are: the exact JSON text)."""
    text = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", **(account.headers if account else {})}
    return http.request(method, path, content=text, headers=headers)


def wrong(field: str, values: list[Any], named: str | None = None) -> list[Any]:
    return [pytest.param(field, value, named or field, id=f"{field}={json.dumps(value)}") for value in values]


@pytest.fixture(scope="module")
def owner(http: httpx.Client) -> Account:
    return new_account(http)


@pytest.fixture(scope="module")
def task(http: httpx.Client, owner: Account) -> dict[str, Any]:
    return create_task(http, owner, title="kept", tags=["keep"])


# -- tasks --------------------------------------------------------------------------------------
CREATE_FIELDS = [
    *wrong("completed", NOT_BOOLS),
    *[p for f in ("title", "description", "priority", "due_date") for p in wrong(f, NOT_STRINGS)],
    *wrong("tags", NOT_LISTS),
    *wrong("tags", NOT_STRING_ITEMS, "tags[0]"),
]


@pytest.mark.parametrize("field, value, named", CREATE_FIELDS)
def test_create_task_refuses_a_wrong_type_and_stores_nothing(http, owner, field, value, named) -> None:
    before = list_tasks(http, owner)["total"]
    body = {"title": "t", field: value}
    assert_bad_request(send(http, "POST", "/tasks", body, owner), named)
    assert list_tasks(http, owner)["total"] == before


# PATCH /tasks/{id} takes google.protobuf.Value fields (null must differ from absent): the service
# checks their kinds, the gateway only their JSON. Both answer the same way.
PATCH_FIELDS = [
    *wrong("completed", NOT_BOOLS),
    *[p for f in ("title", "priority", "due_date", "description") for p in wrong(f, NOT_STRINGS)],
    *wrong("tags", NOT_LISTS + NOT_STRING_ITEMS),
]


@pytest.mark.parametrize("field, value, named", PATCH_FIELDS)
def test_update_task_refuses_a_wrong_type(http, owner, task, field, value, named) -> None:
    assert_bad_request(send(http, "PATCH", f"/tasks/{task['id']}", {field: value}, owner), named)
    assert get_task(http, owner, task["id"])["title"] == "kept"


BULK_FIELDS = [
    *wrong("task_ids", ["1", 1, True, {}], "task_ids"),
    *wrong("task_ids", [[v] for v in NOT_INT32 if not isinstance(v, list)] + [[None], [[1]]], "task_ids[0]"),
    *wrong("updates", NOT_OBJECTS),
]


@pytest.mark.parametrize("field, value, named", BULK_FIELDS)
def test_bulk_update_refuses_a_wrong_type_and_changes_nothing(http, owner, task, field, value, named) -> None:
    body = {"task_ids": [task["id"]], "updates": {"completed": True}, field: value}
    assert_bad_request(send(http, "PATCH", "/tasks/bulk", body, owner), named)
    assert get_task(http, owner, task["id"])["completed"] is False


def test_bulk_update_refuses_a_loose_type_inside_the_patch(http, owner, task) -> None:
    body = {"task_ids": [task["id"]], "updates": {"completed": "yes"}}
    assert_bad_request(send(http, "PATCH", "/tasks/bulk", body, owner), "completed")
    assert get_task(http, owner, task["id"])["completed"] is False


@pytest.mark.parametrize(
    "body, named",
    [
        ("solo", "tags"),
        (5, "tags"),
        ({"tags": ["a"]}, "tags"),
        (["a", None], "tags[1]"),
        (["a", ["b"]], "tags[1]"),
        ([1], "tags[0]"),
    ],
    ids=lambda v: json.dumps(v),
)
def test_add_tags_takes_only_a_list_of_strings(http, owner, task, body, named) -> None:
    assert_bad_request(send(http, "POST", f"/tasks/{task['id']}/tags", body, owner), named)
    assert get_task(http, owner, task["id"])["tags"] == ["keep"]


def test_the_route_is_found_as_the_transcoder_finds_it(http, owner, task) -> None:
    """Trailing slashes reach the same method: the check follows them."""
    for path in (f"/tasks/{task['id']}/tags/", f"/tasks/{task['id']}/tags//"):
        assert_bad_request(send(http, "POST", path, "solo", owner), "tags")
    assert get_task(http, owner, task["id"])["tags"] == ["keep"]


# -- sharing and comments -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value, named",
    [
        *wrong("permission", NOT_STRINGS),
        *wrong("shared_with_username", NOT_STRINGS),
        *wrong("task_id", NOT_INT32),
    ],
)
def test_share_refuses_a_wrong_type_and_shares_nothing(http, owner, task, field, value, named) -> None:
    friend = new_user(http)
    body = {"shared_with_username": friend.username, "permission": "edit", field: value}
    assert_bad_request(send(http, "POST", f"/tasks/{task['id']}/share", body, owner), named)
    share_task(http, owner, task["id"], friend.username, "view")  # not shared before: 201


@pytest.mark.parametrize("field, value, named", wrong("permission", NOT_STRINGS))
def test_share_permission_update_refuses_a_wrong_type(http, owner, field, value, named) -> None:
    mine = create_task(http, owner, title="shared")
    friend = new_account(http)
    share_task(http, owner, mine["id"], friend.username, "view")
    path = f"/tasks/{mine['id']}/share/{friend.username}"
    assert_bad_request(send(http, "PUT", path, {field: value}, owner), named)
    assert [t["permission"] for t in shared_with_me(http, friend)] == ["view"]


@pytest.mark.parametrize(
    "field, value, named", [*wrong("content", NOT_STRINGS), *wrong("task_id", NOT_INT32)]
)
def test_comments_refuse_a_wrong_type(http, owner, task, field, value, named) -> None:
    path = f"/tasks/{task['id']}/comments"
    before = http.get(path, headers=owner.headers).json()
    assert_bad_request(send(http, "POST", path, {"content": "c", field: value}, owner), named)
    created = send(http, "POST", path, {"content": "original"}, owner)
    assert created.status_code == 201, created.text
    created = created.json()
    for edit in (f"{path}/{created['id']}", f"/comments/{created['id']}"):
        assert_bad_request(send(http, "PATCH", edit, {"content": "new", field: value}, owner), named)
    assert http.get(path, headers=owner.headers).json() == [*before, created]


# -- accounts and notifications ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value, named", [p for f in ("username", "email", "password") for p in wrong(f, NOT_STRINGS)]
)
def test_register_and_login_refuse_a_wrong_type(http, field, value, named) -> None:
    name = unique("strict")
    fields = {"username": name, "email": f"{name}@example.com", "password": "correct horse"}
    assert_bad_request(send(http, "POST", "/auth/register", {**fields, field: value}), named)
    if field != "email":
        login = {"username": fields["username"], "password": fields["password"], field: value}
        assert_bad_request(send(http, "POST", "/auth/login", login), named)


def test_a_refused_registration_creates_no_account(http) -> None:
    name = unique("strict")
    fields = {"username": name, "email": f"{name}@example.com", "password": "correct horse"}
    assert_bad_request(send(http, "POST", "/auth/register", {**fields, "password": ["x"]}), "password")
    assert send(http, "POST", "/auth/register", fields).status_code == 201  # the name was free


@pytest.mark.parametrize("field, value, named", [p for f in PREFERENCES for p in wrong(f, NOT_BOOLS)])
def test_preferences_refuse_anything_but_true_or_false(http, owner, field, value, named) -> None:
    before = notify_preferences(http, owner)
    assert_bad_request(send(http, "PATCH", "/notifications/preferences", {field: value}, owner), named)
    assert notify_preferences(http, owner) == before


@pytest.mark.parametrize("field, value, named", wrong("code", NOT_STRINGS))
def test_verify_refuses_a_code_that_is_not_a_string(http, owner, field, value, named) -> None:
    assert_bad_request(send(http, "POST", "/notifications/verify", {field: value}, owner), named)


@pytest.mark.parametrize("body", [b'"x"', b"[]", b"5", b"null"])
def test_subscribe_takes_only_an_object(http, owner, body) -> None:
    assert_status_body(send(http, "POST", "/notifications/subscribe", body, owner), 400, 3)


# -- files (JSON routes; uploads are raw bytes and never read by the check) ---------------------------
@pytest.mark.parametrize(
    "field, value, named",
    [
        *wrong("task_id", NOT_INT32),
        *wrong("file_size", NOT_INT32),
        *wrong("filename", NOT_STRINGS),
        *wrong("content_type", NOT_STRINGS),
    ],
)
def test_upload_url_refuses_a_wrong_type(http, owner, task, field, value, named) -> None:
    body = {"task_id": task["id"], "filename": "a.txt", "file_size": 12, field: value}
    assert_bad_request(send(http, "POST", "/files/upload-url", body, owner), named)


@pytest.mark.parametrize("value", NOT_STRINGS)
def test_confirm_upload_refuses_an_id_that_is_not_a_string(http, owner, value) -> None:
    assert_bad_request(send(http, "POST", "/files/confirm-upload", {"upload_id": value}, owner), "upload_id")


# -- what stays accepted (proto3 JSON) ----------------------------------------------------------------
def test_standard_forms_still_work(http, owner, task) -> None:
    created = send(
        http,
        "POST",
        "/tasks",
        {
            "title": "std",
            "dueDate": "2030-01-02",
            "description": None,
            "tags": None,
            "completed": None,
            "extra": [1],
        },
        owner,
    )
    assert created.status_code == 201, created.text
    assert created.json()["due_date"] == "2030-01-02" and created.json()["completed"] is False
    # int32 as a decimal string or an integral number, camelCase names.
    ids = [str(task["id"]), float(created.json()["id"])]
    bulk = send(http, "PATCH", "/tasks/bulk", {"taskIds": ids, "updates": {"priority": "high"}}, owner)
    assert bulk.status_code == 200, bulk.text
    assert [t["priority"] for t in bulk.json()] == ["high", "high"]
    # Reaches the files service (which needs S3 for presigned URLs here): not a type error.
    url = send(
        http,
        "POST",
        "/files/upload-url",
        {"task_id": str(task["id"]), "filename": "a.txt", "file_size": "12"},
        owner,
    )
    assert url.json()["code"] != 3, url.text  # FAILED_PRECONDITION without S3


def test_null_for_a_required_patch_field_is_still_400(http, owner, task) -> None:
    for field in ("title", "completed", "priority"):
        assert_bad_request(send(http, "PATCH", f"/tasks/{task['id']}", {field: None}, owner), field)


# -- the body itself ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b'{"title":"a"',  # cut short
        b'{"title":"a"} x',  # trailing content
        b'{"title":"a",}',
        b"{'title':'a'}",
        b'"x"',
        b"[]",
        b"null",
        b'{"title":"a","extra":' + b"[" * 40 + b"]" * 40 + b"}",  # nested too deeply
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(http, owner, body) -> None:
    before = list_tasks(http, owner)["total"]
    assert_status_body(send(http, "POST", "/tasks", body, owner), 400, 3)
    assert list_tasks(http, owner)["total"] == before


@pytest.mark.parametrize(
    "body, named",
    [
        (b'{"title":"a","title":"b"}', "title"),
        (b'{"title":"a","due_date":"2030-01-01","dueDate":"2030-01-02"}', "due_date"),
    ],
)
def test_a_field_given_twice_is_400(http, owner, body, named) -> None:
    assert_bad_request(send(http, "POST", "/tasks", body, owner), named)


@pytest.mark.parametrize("content_type", ["application/grpc-web", "text/plain", None])
def test_every_body_the_transcoder_reads_is_checked(http, owner, content_type) -> None:
    """The transcoder reads any body as JSON unless it is native gRPC (application/grpc, grpc+...)."""
    before = list_tasks(http, owner)["total"]
    headers = {**owner.headers, **({"content-type": content_type} if content_type else {})}
    response = http.post("/tasks", content=b'{"title":"t","completed":"yes"}', headers=headers)
    assert_bad_request(response, "completed")
    assert list_tasks(http, owner)["total"] == before


def test_envoys_other_errors_keep_their_shape(http, owner) -> None:
    body = assert_status_body(send(http, "POST", "/tasks", {"title": "t"}), 401, 16)
    assert body["details"] == []
    body = assert_status_body(send(http, "POST", "/tasks?unknown=1", {"title": "t"}, owner), 400, 3)
    assert "unknown" in body["message"]
