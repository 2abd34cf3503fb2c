"""Tasks through the gateway as JSON/HTTP, as the original clients use them: create, read, partial
update, delete, tags, validation, authentication and isolation between users.

Every test registers its own users, so it sees only its own tasks whatever else the database holds."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
import pytest

from support.accounts import Account, new_account
from support.errors import assert_bad_request, assert_status_body, field_violations
from support.tasks import INVALID_PATCHES, PRIORITY_RANK, TASK_OPTIONAL, TASK_REQUIRED, create_task, get_task

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
MISSING_ID = 2_147_483_647  # the largest int32: no task has that id


def assert_task_shape(task: dict[str, Any], owner: Account) -> None:
    assert TASK_REQUIRED <= set(task) <= TASK_REQUIRED | TASK_OPTIONAL, task
    assert type(task["id"]) is int and task["id"] > 0  # a number, as in the original API
    assert type(task["user_id"]) is int and task["user_id"] == owner.id
    assert isinstance(task["title"], str) and task["title"]
    assert type(task["completed"]) is bool
    assert task["priority"] in PRIORITY_RANK
    assert isinstance(task["tags"], list) and all(isinstance(tag, str) for tag in task["tags"])
    assert RFC3339.match(task["created_at"])
    if "updated_at" in task:
        assert RFC3339.match(task["updated_at"])
    if "due_date" in task:
        assert DATE.match(task["due_date"])
    if "description" in task:
        assert isinstance(task["description"], str)


def comparable(task: dict[str, Any]) -> dict[str, Any]:
    """The task without updated_at and with its tags in a fixed order (their order is not contracted)."""
    return {**{k: v for k, v in task.items() if k != "updated_at"}, "tags": sorted(task["tags"])}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def patch_violations(body: dict[str, Any]) -> set[str]:
    """Fields named by a PATCH's BadRequest. The gRPC request nests the JSON body under `patch`,
    so `patch.title` and `title` both name the member the JSON client sent."""
    return {field.removeprefix("patch.") for field in field_violations(body)}


# -- POST /tasks -----------------------------------------------------------------------------
def test_create_answers_201_with_the_defaults(http, account) -> None:
    response = http.post("/tasks", json={"title": "Buy milk"}, headers=account.headers)
    assert response.status_code == 201, response.text
    assert "x-http-code" not in response.headers
    task = response.json()
    assert_task_shape(task, account)
    assert task["title"] == "Buy milk"
    assert (task["priority"], task["completed"], task["tags"]) == ("medium", False, [])
    assert "description" not in task
    assert "due_date" not in task
    assert "updated_at" not in task


def test_create_with_every_field(http, account) -> None:
    fields = {
        "title": "Write report",
        "description": "Quarterly numbers",
        "priority": "high",
        "due_date": "2030-05-17",
        "tags": ["work", "finance"],
        "completed": True,
    }
    task = create_task(http, account, **fields)
    assert_task_shape(task, account)
    assert {k: task[k] for k in fields if k != "tags"} == {k: v for k, v in fields.items() if k != "tags"}
    assert sorted(task["tags"]) == ["finance", "work"]


@pytest.mark.parametrize("priority", ["low", "medium", "high"])
def test_create_with_each_priority(http, account, priority) -> None:
    assert create_task(http, account, priority=priority)["priority"] == priority


def test_title_is_trimmed(http, account) -> None:
    assert create_task(http, account, title="   Buy milk  ")["title"] == "Buy milk"


def test_ids_are_numbers_increasing_in_creation_order(http, account) -> None:
    first, second = create_task(http, account), create_task(http, account)
    assert type(first["id"]) is int and type(second["id"]) is int
    assert second["id"] > first["id"]


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "t" * 200},
        {"title": "  " + "t" * 200 + "  "},  # 200 characters once trimmed
        {"title": "x"},
        {"title": "ok", "description": "d" * 1000},
        {"title": "ok", "description": ""},
    ],
    ids=["title-200", "title-200-after-trim", "title-1", "description-1000", "description-empty"],
)
def test_boundary_values_are_accepted(http, account, fields) -> None:
    task = create_task(http, account, **fields)
    assert task["title"] == fields["title"].strip()
    if fields.get("description"):
        assert task["description"] == fields["description"]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"title": "ok", "description": "d" * 1001}, "description"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "priority": ""}, "priority"),
        ({"title": "ok", "due_date": "2026-13-01"}, "due_date"),
        ({"title": "ok", "due_date": "2026-02-30"}, "due_date"),
        ({"title": "ok", "due_date": "tomorrow"}, "due_date"),
    ],
    ids=[
        "title-empty",
        "title-blank",
        "title-missing",
        "title-201",
        "description-1001",
        "priority-unknown",
        "priority-empty",
        "due-month-13",
        "due-feb-30",
        "due-word",
    ],
)
def test_invalid_create_is_400_naming_the_field(http, account, fields, field) -> None:
    assert_bad_request(http.post("/tasks", json=fields, headers=account.headers), field)


def test_invalid_create_stores_nothing(http, account) -> None:
    assert_bad_request(http.post("/tasks", json={"title": " "}, headers=account.headers), "title")
    listed = http.get("/tasks", headers=account.headers).json()
    assert (listed["total"], listed["tasks"]) == (0, [])


# -- GET /tasks/{id} -------------------------------------------------------------------------
def test_get_returns_the_created_task(http, account) -> None:
    created = create_task(http, account, description="d", due_date="2030-01-02", tags=["a"])
    response = http.get(f"/tasks/{created['id']}", headers=account.headers)
    assert response.status_code == 200
    assert response.json() == {**created, "comments": []}  # a task's comments: test_task_detail.py


def test_get_unknown_id_is_404(http, account) -> None:
    assert_status_body(http.get(f"/tasks/{MISSING_ID}", headers=account.headers), 404, 5)


# -- PATCH /tasks/{id} -----------------------------------------------------------------------
ORIGINAL = {
    "title": "Original",
    "description": "old text",
    "priority": "high",
    "due_date": "2030-01-01",
    "tags": ["a"],
    "completed": False,
}


@pytest.mark.parametrize(
    "patch, change",
    [
        ({"title": "Renamed"}, {"title": "Renamed"}),
        ({"title": "  Padded  "}, {"title": "Padded"}),
        ({"description": "new text"}, {"description": "new text"}),
        ({"completed": True}, {"completed": True}),
        ({"priority": "low"}, {"priority": "low"}),
        ({"due_date": "2031-02-03"}, {"due_date": "2031-02-03"}),
        ({"tags": ["x", "y"]}, {"tags": ["x", "y"]}),
        ({"tags": []}, {"tags": []}),
        (
            {"title": "Both", "completed": True, "priority": "medium"},
            {"title": "Both", "completed": True, "priority": "medium"},
        ),
    ],
    ids=[
        "title",
        "title-trimmed",
        "description",
        "completed",
        "priority",
        "due_date",
        "tags",
        "tags-empty",
        "several",
    ],
)
def test_patch_changes_only_the_sent_fields(http, account, patch, change) -> None:
    original = create_task(http, account, **ORIGINAL)
    response = http.patch(f"/tasks/{original['id']}", json=patch, headers=account.headers)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert_task_shape(updated, account)
    assert comparable(updated) == comparable({**original, **change})
    assert comparable(get_task(http, account, original["id"])) == comparable(updated)


@pytest.mark.parametrize("field", ["description", "due_date"])
def test_patch_null_clears_an_optional_field(http, account, field) -> None:
    original = create_task(http, account, **ORIGINAL)
    response = http.patch(f"/tasks/{original['id']}", json={field: None}, headers=account.headers)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert field not in updated
    expected = {k: v for k, v in original.items() if k != field}
    assert comparable(updated) == comparable(expected)
    assert field not in get_task(http, account, original["id"])


def test_patch_null_tags_empties_them(http, account) -> None:
    original = create_task(http, account, **ORIGINAL)
    response = http.patch(f"/tasks/{original['id']}", json={"tags": None}, headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == []


def test_patch_sets_updated_at_and_keeps_created_at(http, account) -> None:
    original = create_task(http, account)
    assert "updated_at" not in original
    updated = http.patch(f"/tasks/{original['id']}", json={"completed": True}, headers=account.headers).json()
    assert updated["created_at"] == original["created_at"]
    assert parse_time(updated["updated_at"]) >= parse_time(original["created_at"])
    assert get_task(http, account, original["id"])["updated_at"] == updated["updated_at"]


def test_empty_patch_is_400_and_changes_nothing(http, account) -> None:
    original = create_task(http, account, **ORIGINAL)
    assert_status_body(http.patch(f"/tasks/{original['id']}", json={}, headers=account.headers), 400, 3)
    assert get_task(http, account, original["id"]) == original


@pytest.mark.parametrize("patch, field", INVALID_PATCHES)
def test_invalid_patch_is_400_naming_the_field_and_changes_nothing(http, account, patch, field) -> None:
    original = create_task(http, account, **ORIGINAL)
    response = http.patch(f"/tasks/{original['id']}", json=patch, headers=account.headers)
    body = assert_status_body(response, 400, 3)
    assert patch_violations(body) == {field}, body
    assert get_task(http, account, original["id"]) == original


def test_invalid_field_among_valid_ones_changes_nothing(http, account) -> None:
    original = create_task(http, account, **ORIGINAL)
    patch = {"title": "Fine", "priority": "urgent"}
    response = http.patch(f"/tasks/{original['id']}", json=patch, headers=account.headers)
    assert patch_violations(assert_status_body(response, 400, 3)) == {"priority"}
    assert get_task(http, account, original["id"]) == original


def test_patch_unknown_id_is_404(http, account) -> None:
    response = http.patch(f"/tasks/{MISSING_ID}", json={"title": "x"}, headers=account.headers)
    assert_status_body(response, 404, 5)


# -- DELETE /tasks/{id} ----------------------------------------------------------------------
def test_delete_is_204_with_an_empty_body_then_the_task_is_gone(http, account) -> None:
    task = create_task(http, account)
    response = http.delete(f"/tasks/{task['id']}", headers=account.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_status_body(http.get(f"/tasks/{task['id']}", headers=account.headers), 404, 5)
    assert_status_body(http.delete(f"/tasks/{task['id']}", headers=account.headers), 404, 5)
    response = http.patch(f"/tasks/{task['id']}", json={"title": "x"}, headers=account.headers)
    assert_status_body(response, 404, 5)


def test_delete_leaves_the_other_tasks(http, account) -> None:
    doomed, kept = create_task(http, account), create_task(http, account)
    assert http.delete(f"/tasks/{doomed['id']}", headers=account.headers).status_code == 204
    assert get_task(http, account, kept["id"]) == kept
    listed = http.get("/tasks", headers=account.headers).json()
    assert [t["id"] for t in listed["tasks"]] == [kept["id"]]
    assert listed["total"] == 1


def test_delete_unknown_id_is_404(http, account) -> None:
    assert_status_body(http.delete(f"/tasks/{MISSING_ID}", headers=account.headers), 404, 5)


# -- POST /tasks/{id}/tags, DELETE /tasks/{id}/tags/{tag} ------------------------------------
def test_add_tags_keeps_no_duplicates(http, account) -> None:
    task = create_task(http, account, tags=["a"])
    response = http.post(f"/tasks/{task['id']}/tags", json=["b", "a", "b", "c"], headers=account.headers)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert_task_shape(updated, account)
    assert sorted(updated["tags"]) == ["a", "b", "c"]
    assert comparable(updated) == comparable({**task, "tags": ["a", "b", "c"]})
    assert sorted(get_task(http, account, task["id"])["tags"]) == ["a", "b", "c"]


def test_add_tags_to_a_task_without_tags(http, account) -> None:
    task = create_task(http, account)
    response = http.post(f"/tasks/{task['id']}/tags", json=["work"], headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["work"]


def test_remove_tag_answers_200_with_the_task(http, account) -> None:
    task = create_task(http, account, tags=["a", "b"])
    response = http.delete(f"/tasks/{task['id']}/tags/a", headers=account.headers)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert_task_shape(updated, account)
    assert comparable(updated) == comparable({**task, "tags": ["b"]})
    assert get_task(http, account, task["id"])["tags"] == ["b"]


def test_remove_a_tag_the_task_lacks_is_404(http, account) -> None:
    task = create_task(http, account, tags=["a"])
    assert_status_body(http.delete(f"/tasks/{task['id']}/tags/zzz", headers=account.headers), 404, 5)
    assert get_task(http, account, task["id"])["tags"] == ["a"]


def test_tags_of_an_unknown_task_are_404(http, account) -> None:
    response = http.post(f"/tasks/{MISSING_ID}/tags", json=["a"], headers=account.headers)
    assert_status_body(response, 404, 5)
    assert_status_body(http.delete(f"/tasks/{MISSING_ID}/tags/a", headers=account.headers), 404, 5)


# -- authentication and isolation ------------------------------------------------------------
def call(http: httpx.Client, operation: str, task_id: int, headers: dict[str, str]) -> httpx.Response:
    """One request per endpoint, on `task_id` where the endpoint names a task."""
    if operation == "create":
        return http.post("/tasks", json={"title": "intruder"}, headers=headers)
    if operation == "list":
        return http.get("/tasks", headers=headers)
    if operation == "get":
        return http.get(f"/tasks/{task_id}", headers=headers)
    if operation == "patch":
        return http.patch(f"/tasks/{task_id}", json={"title": "hijacked"}, headers=headers)
    if operation == "delete":
        return http.delete(f"/tasks/{task_id}", headers=headers)
    if operation == "add_tags":
        return http.post(f"/tasks/{task_id}/tags", json=["hijacked"], headers=headers)
    if operation == "remove_tag":
        return http.delete(f"/tasks/{task_id}/tags/mine", headers=headers)
    raise AssertionError(operation)


TASK_OPERATIONS = ["get", "patch", "delete", "add_tags", "remove_tag"]


@pytest.mark.parametrize("operation", ["create", "list", *TASK_OPERATIONS])
@pytest.mark.parametrize("authorization", [None, "Bearer abc.def"], ids=["no-token", "garbled-token"])
def test_unauthenticated_is_401_and_changes_nothing(http, account, operation, authorization) -> None:
    task = create_task(http, account, tags=["mine"])
    headers = {"Authorization": authorization} if authorization else {}
    assert_status_body(call(http, operation, task["id"], headers), 401, 16)
    assert get_task(http, account, task["id"]) == task
    assert http.get("/tasks", headers=account.headers).json()["total"] == 1


@pytest.mark.parametrize("operation", TASK_OPERATIONS)
def test_another_users_task_is_404_and_unchanged(http, account, operation) -> None:
    task = create_task(http, account, tags=["mine"])
    stranger = new_account(http)
    assert_status_body(call(http, operation, task["id"], stranger.headers), 404, 5)
    assert get_task(http, account, task["id"]) == task


def test_another_users_task_looks_like_a_missing_one(http, account) -> None:
    task = create_task(http, account)
    stranger = new_account(http)
    foreign = assert_status_body(http.get(f"/tasks/{task['id']}", headers=stranger.headers), 404, 5)
    missing = assert_status_body(http.get(f"/tasks/{MISSING_ID}", headers=stranger.headers), 404, 5)
    assert foreign["message"].replace(str(task["id"]), "N") == missing["message"].replace(
        str(MISSING_ID), "N"
    )
