"""Strict JSON types through the gateway (API.md: a wrong JSON type is a 400, never coerced).

Envoy's transcoder alone took "yes" for true, a scalar for a list, "5" or 5.0 for 5,
?completed=yes for true, /tasks/01 for task 1, and let a query parameter or a body member set a
field the path set (GET /tasks/1?id=2 answered task 2); the gateway's Lua filter
(gateway/lua/json_types.lua) now refuses all of it before the request is transcoded: a 400
google.rpc.Status whose BadRequest names the field, and nothing written. Every boolean, number,
list, object and string field of every public route with a JSON body is tried with the wrong
types, and so are the path variables and query parameters; the standard forms (camelCase names,
null for an optional field, unknown fields ignored) still work."""

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
NOT_INT32 = [
    1.5,
    "1.5",
    "1.0",
    "abc",
    "",
    " 1",
    True,
    [1],
    {},
    2147483648,
    "2147483648",
    -2147483649,
    1e10,
    "5",
    5.0,
    1e3,
]
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
    # camelCase names.
    ids = [task["id"], created.json()["id"]]
    bulk = send(http, "PATCH", "/tasks/bulk", {"taskIds": ids, "updates": {"priority": "high"}}, owner)
    assert bulk.status_code == 200, bulk.text
    assert [t["priority"] for t in bulk.json()] == ["high", "high"]
    # Reaches the files service (which needs S3 for presigned URLs here): not a type error.
    url = send(
        http,
        "POST",
        "/files/upload-url",
        {"taskId": task["id"], "filename": "a.txt", "fileSize": 12},
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


# -- numbers are numbers, nulls only where a field may be absent --------------------------------------
@pytest.mark.parametrize("written", ['"{id}"', "{id}.0", "{id}e0", "{id}.5e1"])
def test_bulk_ids_must_be_plain_json_integers(http, owner, task, written) -> None:
    """proto3 JSON takes "5", 5.0 and 5e0 for an int32; the original took only 5."""
    ids = written.format(id=task["id"])
    text = '{"task_ids":[' + ids + '],"updates":{"completed":true}}'
    assert_bad_request(send(http, "PATCH", "/tasks/bulk", text.encode(), owner), "task_ids[0]")
    assert get_task(http, owner, task["id"])["completed"] is False


@pytest.mark.parametrize(
    "method, path, body, named",
    [
        ("POST", "/tasks", {"title": None}, "title"),
        ("POST", "/auth/login", {"username": None, "password": "correct horse"}, "username"),
        ("POST", "/auth/register", {"username": "x", "email": None, "password": "correct horse"}, "email"),
        ("POST", "/notifications/verify", {"code": None}, "code"),
        ("POST", "/files/upload-url", {"task_id": 1, "filename": "a.txt", "file_size": None}, "file_size"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_null_for_a_field_that_cannot_be_absent_is_400(http, owner, method, path, body, named) -> None:
    """Only fields that may be absent (API.md's `?`: description, due_date, tags, completed,
    priority, permission, the preference switches) take null."""
    assert_bad_request(send(http, method, path, body, owner), named)


def test_null_for_comment_share_and_permission_fields_is_400(http, owner, task) -> None:
    friend = new_user(http)
    comments = f"/tasks/{task['id']}/comments"
    assert_bad_request(send(http, "POST", comments, {"content": None}, owner), "content")
    share = f"/tasks/{task['id']}/share"
    assert_bad_request(
        send(http, "POST", share, {"shared_with_username": None}, owner), "shared_with_username"
    )
    shared = share_task(http, owner, task["id"], friend.username, "view")
    path = f"/tasks/{task['id']}/share/{friend.username}"
    assert_bad_request(send(http, "PUT", path, {"permission": None}, owner), "permission")
    assert shared["permission"] == "view"
    assert http.delete(path, headers=owner.headers).status_code == 204


def test_a_tags_body_of_null_is_not_a_list(http, owner, task) -> None:
    assert_bad_request(send(http, "POST", f"/tasks/{task['id']}/tags", None, owner), "tags")
    assert get_task(http, owner, task["id"])["tags"] == ["keep"]


# -- a field the path sets is set by the path only ----------------------------------------------------
def test_a_body_member_cannot_retarget_the_path(http, owner, task) -> None:
    other = create_task(http, owner, title="other")
    friend = new_user(http)
    for value in (other["id"], task["id"]):  # even the same id: the path is the one place for it
        path = f"/tasks/{task['id']}/comments"
        assert_bad_request(send(http, "POST", path, {"content": "c", "task_id": value}, owner), "task_id")
        assert_bad_request(send(http, "POST", path, {"content": "c", "taskId": value}, owner), "task_id")
        body = {"shared_with_username": friend.username, "task_id": value}
        assert_bad_request(send(http, "POST", f"/tasks/{task['id']}/share", body, owner), "task_id")
    assert http.get(f"/tasks/{other['id']}/comments", headers=owner.headers).json() == []
    comment = send(http, "POST", f"/tasks/{task['id']}/comments", {"content": "mine"}, owner).json()
    body = {"content": "moved", "comment_id": comment["id"] + 1}
    assert_bad_request(send(http, "PATCH", f"/comments/{comment['id']}", body, owner), "comment_id")


@pytest.mark.parametrize(
    "method, path, body, named",
    [
        ("GET", "/tasks/{id}?id={other}", None, "id"),
        ("PATCH", "/tasks/{id}?id={other}", {"completed": True}, "id"),
        ("PATCH", "/tasks/{id}?patch.title=x", {"completed": True}, "patch.title"),
        ("POST", "/tasks?title=x", {"title": "t"}, "title"),
        ("POST", "/tasks/{id}/tags?tags=q", ["b"], "tags"),
        ("GET", "/tasks/{id}/comments?task_id={other}", None, "task_id"),
        ("DELETE", "/tasks/{id}?id={other}", None, "id"),
    ],
)
def test_a_query_parameter_cannot_set_what_the_path_or_body_sets(
    http, owner, method, path, body, named
) -> None:
    mine, other = create_task(http, owner, title="mine"), create_task(http, owner, title="other")
    url = path.format(id=mine["id"], other=other["id"])
    assert_bad_request(send(http, method, url, body if body is not None else b"", owner), named)
    for task in (mine, other):
        after = get_task(http, owner, task["id"])
        assert (after["title"], after["completed"], after["tags"]) == (task["title"], False, [])


# -- path variables and query parameters ------------------------------------------------------------
INT32_TEXT = ["abc", "1.0", "1e1", "+1", "%2B1", "01", "%201", "1%20", "99999999999", "0x1", "-0", "1,2"]


@pytest.mark.parametrize("text", INT32_TEXT)
def test_an_id_in_the_path_is_a_canonical_integer(http, owner, task, text) -> None:
    text = text.replace("1", str(task["id"]), 1) if text in ("+1", "%2B1", "01", "%201", "1%20") else text
    for method, path, named in [
        ("GET", f"/tasks/{text}", "id"),
        ("DELETE", f"/tasks/{text}", "id"),
        ("GET", f"/tasks/{text}/comments", "task_id"),
        ("GET", f"/files/{text}", "id"),
        ("GET", f"/activity/tasks/{text}", "task_id"),
    ]:
        response = http.request(method, path, headers=owner.headers)
        assert_bad_request(response, named)
    assert get_task(http, owner, task["id"])["title"] == "kept"


def test_a_negative_or_zero_id_is_an_integer_that_names_no_task(http, owner) -> None:
    for text in ("-1", "0"):
        assert_status_body(http.get(f"/tasks/{text}", headers=owner.headers), 404, 5)


@pytest.mark.parametrize(
    "query, named",
    [
        *[(f"completed={v}", "completed") for v in ("yes", "1", "0", "True", "t", "no", "", "%20true")],
        ("completed", "completed"),
        ("overdue=no", "overdue"),
        *[
            (f"limit={v}", "limit")
            for v in ("abc", "1.5", "1.0", "1e1", "99999999999", "%2B5", "05", "", "5%20")
        ],
        ("skip=1.5", "skip"),
        ("skip=+1", "skip"),
        ("limit=1&limit=2", "limit"),
        ("sortBy=id&sort_by=title", "sort_by"),
        ("completed=true&completed=false", "completed"),
        ("unknown=1", "unknown"),
        ("id=1", "id"),
        ("limit=5;completed=true", "limit"),
    ],
)
def test_list_query_values_are_strict(http, owner, query, named) -> None:
    assert_bad_request(http.get(f"/tasks?{query}", headers=owner.headers), named)


@pytest.mark.parametrize(
    "path, named",
    [
        ("/tasks/{id}/comments?page_size=x", "page_size"),
        ("/tasks/{id}/comments?page_size=05", "page_size"),
        ("/tasks/shared-with-me?page_size=yes", "page_size"),
        ("/tasks/{id}/files?page_size=1.0", "page_size"),
        ("/activity?limit=abc", "limit"),
        ("/activity?offset=%2B1", "offset"),
        ("/activity?limit=1&limit=2", "limit"),
        ("/tasks/{id}/files?x=1", "x"),
        ("/notifications/preferences?x=1", "x"),
        ("/tasks/stats?completed=true", "completed"),
    ],
)
def test_other_query_values_are_strict(http, owner, task, path, named) -> None:
    assert_bad_request(http.get(path.format(id=task["id"]), headers=owner.headers), named)


def test_standard_query_forms_still_work(http, owner, task) -> None:
    """camelCase names, repeated lists, escapes, empty pieces and values that are strings."""
    query = "?sortBy=id&sort_order=desc&limit=%35&skip=0&completed=false&tags=keep&tags=&&search=k%65pt+x"
    assert http.get(f"/tasks{query}", headers=owner.headers).status_code == 200
    found = list_tasks(http, owner, "tags=keep&completed=false&limit=100")
    assert [t["id"] for t in found["tasks"]] == [task["id"]]
    assert http.get(f"/tasks/{task['id']}?", headers=owner.headers).status_code == 200


@pytest.mark.parametrize(
    "query, path_id, named",
    [
        ("filename=a.txt&filename=b.txt", None, "filename"),
        ("name=a.txt", None, "name"),
        ("filename=a.txt", "0{id}", "task_id"),
        ("filename=a.txt", "abc", "task_id"),
    ],
)
def test_a_raw_upload_has_its_path_and_query_checked(http, owner, task, query, path_id, named) -> None:
    task_id = (path_id or "{id}").format(id=task["id"])
    headers = {**owner.headers, "content-type": "text/plain"}
    response = http.post(f"/tasks/{task_id}/files?{query}", content=b"hello", headers=headers)
    assert_bad_request(response, named)
    assert http.get(f"/tasks/{task['id']}/files", headers=owner.headers).json() == []
