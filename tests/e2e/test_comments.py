"""Comments through the gateway as JSON/HTTP: POST and GET /tasks/{task_id}/comments, PATCH and
DELETE /tasks/{task_id}/comments/{comment_id} and their alias /comments/{comment_id}.

Who may do what, as a matrix over the task's OWNER, a user it is shared with for EDIT, one it is
shared with for VIEW, and a STRANGER: everyone who can view the task reads and adds comments; only
the author edits a comment; the author or the task's owner deletes it. Seeing the task without the
permission is 403; not seeing it is 404 on every comment path (never 403).

Every test registers its own users (users who never call the API are registered without logging
in), so it sees only its own tasks and comments whatever else the database holds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from support.accounts import Account, log_in, new_account, new_user
from support.comments import (
    COMMENT_KEYS,
    COMMENT_REQUIRED,
    add_comment,
    comment_alias,
    comments_path,
    create_comment,
    edit_comment,
    list_comments,
    remove_comment,
)
from support.errors import assert_bad_request, assert_status_body
from support.sharing import share_task
from support.tasks import create_task

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MISSING_ID = 2_147_483_647  # the largest int32: no task or comment has that id
GRPC_CODE = {403: 7, 404: 5}


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ids(comments: list[dict[str, Any]]) -> list[int]:
    return [comment["id"] for comment in comments]


def assert_comment_shape(comment: dict[str, Any], edited: bool = False) -> None:
    """A Comment JSON of API.md: updated_at present exactly when edited."""
    assert set(comment) == (COMMENT_KEYS if edited else COMMENT_REQUIRED), comment
    for key in ("id", "task_id", "user_id"):
        assert type(comment[key]) is int and comment[key] > 0, comment
    assert isinstance(comment["content"], str), comment
    assert RFC3339.match(comment["created_at"]), comment
    if edited:
        assert RFC3339.match(comment["updated_at"]), comment
        assert when(comment["updated_at"]) >= when(comment["created_at"]), comment


def unshare(http: httpx.Client, owner: Account, task_id: int, username: str) -> None:
    response = http.delete(f"/tasks/{task_id}/share/{username}", headers=owner.headers)
    assert response.status_code == 204, response.text


# -- the permission matrix -------------------------------------------------------------------
ROLES = ["owner", "edit", "view", "stranger"]
# endpoint -> the HTTP status for owner, edit, view, stranger. "own": the actor's own comment (for
# the stranger: one they wrote as a viewer before the share was revoked); "other": a comment by
# another user who can view the task (never the owner).
EXPECTED: dict[str, tuple[int, int, int, int]] = {
    "create": (201, 201, 201, 404),
    "list": (200, 200, 200, 404),
    "update_own": (200, 200, 200, 404),
    "update_other": (403, 403, 403, 404),
    "delete_own": (204, 204, 204, 404),
    "delete_other": (204, 403, 403, 404),
    "update_own_alias": (200, 200, 200, 404),
    "update_other_alias": (403, 403, 403, 404),
    "delete_own_alias": (204, 204, 204, 404),
    "delete_other_alias": (204, 403, 403, 404),
}


@dataclass
class Case:
    owner: Account
    task: dict[str, Any]
    actor: Account
    other: dict[str, Any]  # by a commenter the task is shared with for VIEW
    own: dict[str, Any] | None  # by the actor, for the *_own endpoints
    before: list[dict[str, Any]]  # the owner's view of the comments just before the call

    def target(self, endpoint: str) -> dict[str, Any]:
        if "_own" in endpoint:
            assert self.own is not None
            return self.own
        return self.other


def build(http: httpx.Client, endpoint: str, role: str) -> Case:
    """A fresh owner and task, shared with an editor, a viewer and a commenter (VIEW) who has
    commented. For the *_own endpoints the actor has commented too."""
    owner = new_account(http)
    task = create_task(http, owner)
    editor, viewer, commenter = new_user(http), new_user(http), new_account(http)
    share_task(http, owner, task["id"], editor.username, "edit")
    share_task(http, owner, task["id"], viewer.username, "view")
    share_task(http, owner, task["id"], commenter.username, "view")
    other = create_comment(http, commenter, task["id"], "by the commenter")
    actor = {
        "owner": lambda: owner,
        "edit": lambda: log_in(http, editor),
        "view": lambda: log_in(http, viewer),
        "stranger": lambda: new_account(http),
    }[role]()
    own = None
    if "_own" in endpoint:
        if role == "stranger":  # a former viewer
            share_task(http, owner, task["id"], actor.username, "view")
            own = create_comment(http, actor, task["id"], "by the actor")
            unshare(http, owner, task["id"], actor.username)
        else:
            own = create_comment(http, actor, task["id"], "by the actor")
    before = list_comments(http, owner, task["id"])
    return Case(owner, task, actor, other, own, before)


def call(http: httpx.Client, endpoint: str, case: Case) -> httpx.Response:
    task_id, actor = case.task["id"], case.actor
    if endpoint == "create":
        return add_comment(http, actor, task_id, "new by the actor")
    if endpoint == "list":
        return http.get(comments_path(task_id), headers=actor.headers)
    target = case.target(endpoint)["id"]
    path_task = None if endpoint.endswith("_alias") else task_id
    if endpoint.startswith("update"):
        return edit_comment(http, actor, target, "changed", path_task)
    return remove_comment(http, actor, target, path_task)


def assert_succeeded(http: httpx.Client, endpoint: str, case: Case, response: httpx.Response) -> None:
    after = list_comments(http, case.owner, case.task["id"])
    if endpoint == "create":
        created = response.json()
        assert_comment_shape(created)
        assert (created["task_id"], created["user_id"]) == (case.task["id"], case.actor.id)
        assert created["content"] == "new by the actor"
        assert after == [*case.before, created]
    elif endpoint == "list":
        assert response.json() == case.before
        assert after == case.before
    elif endpoint.startswith("update"):
        target = case.target(endpoint)
        updated = response.json()
        assert_comment_shape(updated, edited=True)
        assert {**updated, "updated_at": None} == {**target, "content": "changed", "updated_at": None}
        assert after == [updated if row["id"] == target["id"] else row for row in case.before]
    else:
        assert response.content == b"", response.content
        target = case.target(endpoint)
        assert after == [row for row in case.before if row["id"] != target["id"]]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(EXPECTED))
def test_permission_matrix(http, endpoint: str, role: str) -> None:
    expected = EXPECTED[endpoint][ROLES.index(role)]
    case = build(http, endpoint, role)
    response = call(http, endpoint, case)
    if expected < 300:
        assert response.status_code == expected, response.text
        assert_succeeded(http, endpoint, case, response)
    else:
        assert_status_body(response, expected, GRPC_CODE[expected])
        assert list_comments(http, case.owner, case.task["id"]) == case.before


# -- POST /tasks/{task_id}/comments ----------------------------------------------------------
def test_create_answers_201_with_the_comment(http, account) -> None:
    task = create_task(http, account)
    response = add_comment(http, account, task["id"], "first!")
    assert response.status_code == 201, response.text
    created = response.json()
    assert_comment_shape(created)
    assert (created["task_id"], created["user_id"], created["content"]) == (task["id"], account.id, "first!")
    assert "updated_at" not in created


def test_a_shared_users_comment_is_theirs_not_the_owners(http, account) -> None:
    task = create_task(http, account)
    editor, viewer = new_account(http), new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    share_task(http, account, task["id"], viewer.username, "view")
    by_editor = create_comment(http, editor, task["id"])
    by_viewer = create_comment(http, viewer, task["id"])
    assert (by_editor["user_id"], by_viewer["user_id"]) == (editor.id, viewer.id)
    assert [(row["id"], row["user_id"]) for row in list_comments(http, account, task["id"])] == [
        (by_editor["id"], editor.id),
        (by_viewer["id"], viewer.id),
    ]


@pytest.mark.parametrize(
    "content",
    ["x", "é" * 1000, "a" * 1000, "  padded  ", "two\nlines", " " * 999 + "z", "ünïcødé ✓ 😀"],
    ids=["one", "1000-non-ascii", "1000", "padded", "newline", "999-spaces-and-one", "unicode"],
)
def test_valid_content_is_stored_as_given(http, account, content) -> None:
    task = create_task(http, account)
    created = create_comment(http, account, task["id"], content)
    assert created["content"] == content
    assert [row["content"] for row in list_comments(http, account, task["id"])] == [content]


BAD_CONTENT = ["", " ", "   \t\n  ", "a" * 1001, "é" * 1001, " " + "a" * 1000, " " * 1001]
BAD_CONTENT_IDS = ["empty", "space", "whitespace", "1001", "1001-non-ascii", "1001-with-space", "1001-spaces"]


@pytest.mark.parametrize("content", BAD_CONTENT, ids=BAD_CONTENT_IDS)
def test_create_with_bad_content_is_400_naming_content(http, account, content) -> None:
    task = create_task(http, account)
    assert_bad_request(add_comment(http, account, task["id"], content), "content")
    assert list_comments(http, account, task["id"]) == []


@pytest.mark.parametrize("body", [{}, {"content": None}], ids=["absent", "null"])
def test_create_without_content_is_400_naming_content(http, account, body) -> None:
    task = create_task(http, account)
    response = http.post(comments_path(task["id"]), json=body, headers=account.headers)
    assert_bad_request(response, "content")
    assert list_comments(http, account, task["id"]) == []


def test_comment_ids_increase(http, account) -> None:
    task = create_task(http, account)
    created = [create_comment(http, account, task["id"]) for _ in range(3)]
    assert ids(created) == sorted(ids(created))
    assert len(set(ids(created))) == 3


def test_create_on_a_missing_task_is_404(http, account) -> None:
    assert_status_body(add_comment(http, account, MISSING_ID, "hello"), 404, 5)


# -- GET /tasks/{task_id}/comments -----------------------------------------------------------
def test_list_is_an_empty_array_without_comments(http, account) -> None:
    task = create_task(http, account)
    response = http.get(comments_path(task["id"]), headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json() == []


def test_list_is_a_bare_array_oldest_first_from_every_author(http, account) -> None:
    task = create_task(http, account)
    editor, viewer = new_account(http), new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    share_task(http, account, task["id"], viewer.username, "view")
    created = [
        create_comment(http, author, task["id"], f"comment {index}")
        for index, author in enumerate([viewer, account, editor, account, viewer])
    ]
    for reader in (account, editor, viewer):
        listed = list_comments(http, reader, task["id"])
        assert listed == created
        for row in listed:
            assert_comment_shape(row)
    assert [row["content"] for row in created] == [f"comment {index}" for index in range(5)]


def test_list_holds_only_that_tasks_comments(http, account) -> None:
    first, second = create_task(http, account), create_task(http, account)
    one = create_comment(http, account, first["id"])
    two = create_comment(http, account, second["id"])
    three = create_comment(http, account, first["id"])
    assert ids(list_comments(http, account, first["id"])) == [one["id"], three["id"]]
    assert ids(list_comments(http, account, second["id"])) == [two["id"]]


def test_list_keeps_creation_order_after_an_edit(http, account) -> None:
    task = create_task(http, account)
    first, second = create_comment(http, account, task["id"]), create_comment(http, account, task["id"])
    assert edit_comment(http, account, first["id"], "edited later", task["id"]).status_code == 200
    assert ids(list_comments(http, account, task["id"])) == [first["id"], second["id"]]


def test_list_of_a_missing_task_is_404(http, account) -> None:
    assert_status_body(http.get(comments_path(MISSING_ID), headers=account.headers), 404, 5)


# -- PATCH /tasks/{task_id}/comments/{comment_id} and /comments/{comment_id} -----------------
@pytest.mark.parametrize("alias", [False, True], ids=["task-path", "alias"])
def test_update_answers_200_and_sets_updated_at(http, account, alias) -> None:
    task = create_task(http, account)
    created = create_comment(http, account, task["id"], "before")
    response = edit_comment(http, account, created["id"], "after", None if alias else task["id"])
    assert response.status_code == 200, response.text
    updated = response.json()
    assert_comment_shape(updated, edited=True)
    assert {**updated, "updated_at": None} == {**created, "content": "after", "updated_at": None}
    assert list_comments(http, account, task["id"]) == [updated]


def test_an_editor_or_viewer_edits_their_own_comment(http, account) -> None:
    task = create_task(http, account)
    editor, viewer = new_account(http), new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    share_task(http, account, task["id"], viewer.username, "view")
    for author, alias in ((editor, False), (viewer, True)):
        created = create_comment(http, author, task["id"])
        response = edit_comment(http, author, created["id"], "mine", None if alias else task["id"])
        assert response.status_code == 200, response.text
        assert (response.json()["content"], response.json()["user_id"]) == ("mine", author.id)
    assert [row["content"] for row in list_comments(http, account, task["id"])] == ["mine", "mine"]


@pytest.mark.parametrize("alias", [False, True], ids=["task-path", "alias"])
@pytest.mark.parametrize("content", BAD_CONTENT, ids=BAD_CONTENT_IDS)
def test_update_with_bad_content_is_400_naming_content(http, account, content, alias) -> None:
    task = create_task(http, account)
    created = create_comment(http, account, task["id"])
    response = edit_comment(http, account, created["id"], content, None if alias else task["id"])
    assert_bad_request(response, "content")
    assert list_comments(http, account, task["id"]) == [created]


@pytest.mark.parametrize("body", [{}, {"content": None}], ids=["absent", "null"])
@pytest.mark.parametrize("alias", [False, True], ids=["task-path", "alias"])
def test_update_without_content_is_400_naming_content(http, account, alias, body) -> None:
    task = create_task(http, account)
    created = create_comment(http, account, task["id"])
    path = comment_alias(created["id"]) if alias else comments_path(task["id"], created["id"])
    assert_bad_request(http.patch(path, json=body, headers=account.headers), "content")
    assert list_comments(http, account, task["id"]) == [created]


def test_the_task_owner_cannot_edit_someone_elses_comment(http, account) -> None:
    task = create_task(http, account)
    editor = new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    created = create_comment(http, editor, task["id"])
    assert_status_body(edit_comment(http, account, created["id"], "owner", task["id"]), 403, 7)
    assert_status_body(edit_comment(http, account, created["id"], "owner"), 403, 7)
    assert list_comments(http, account, task["id"]) == [created]


def test_an_editor_cannot_edit_the_owners_comment(http, account) -> None:
    task = create_task(http, account)
    editor = new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    created = create_comment(http, account, task["id"])
    assert_status_body(edit_comment(http, editor, created["id"], "editor", task["id"]), 403, 7)
    assert_status_body(edit_comment(http, editor, created["id"], "editor"), 403, 7)
    assert list_comments(http, account, task["id"]) == [created]


def test_an_edit_can_be_repeated(http, account) -> None:
    task = create_task(http, account)
    created = create_comment(http, account, task["id"])
    first = edit_comment(http, account, created["id"], "one", task["id"])
    second = edit_comment(http, account, created["id"], "two")
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert second.json()["content"] == "two"
    assert when(second.json()["updated_at"]) >= when(first.json()["updated_at"])
    assert list_comments(http, account, task["id"]) == [second.json()]


# -- DELETE /tasks/{task_id}/comments/{comment_id} and /comments/{comment_id} ----------------
@pytest.mark.parametrize("alias", [False, True], ids=["task-path", "alias"])
def test_delete_is_204_and_the_comment_is_gone(http, account, alias) -> None:
    task = create_task(http, account)
    kept, dropped = create_comment(http, account, task["id"]), create_comment(http, account, task["id"])
    response = remove_comment(http, account, dropped["id"], None if alias else task["id"])
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert list_comments(http, account, task["id"]) == [kept]
    # Gone at both paths.
    assert_status_body(remove_comment(http, account, dropped["id"], task["id"]), 404, 5)
    assert_status_body(remove_comment(http, account, dropped["id"]), 404, 5)
    assert_status_body(edit_comment(http, account, dropped["id"], "x", task["id"]), 404, 5)
    assert_status_body(edit_comment(http, account, dropped["id"], "x"), 404, 5)


@pytest.mark.parametrize("alias", [False, True], ids=["task-path", "alias"])
def test_the_owner_deletes_a_viewers_comment(http, account, alias) -> None:
    task = create_task(http, account)
    viewer = new_account(http)
    share_task(http, account, task["id"], viewer.username, "view")
    created = create_comment(http, viewer, task["id"])
    response = remove_comment(http, account, created["id"], None if alias else task["id"])
    assert response.status_code == 204, response.text
    assert list_comments(http, viewer, task["id"]) == []


def test_shared_users_cannot_delete_each_others_or_the_owners_comments(http, account) -> None:
    task = create_task(http, account)
    editor, viewer = new_account(http), new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    share_task(http, account, task["id"], viewer.username, "view")
    by_owner = create_comment(http, account, task["id"])
    by_editor = create_comment(http, editor, task["id"])
    by_viewer = create_comment(http, viewer, task["id"])
    for caller, target in (
        (editor, by_owner),
        (editor, by_viewer),
        (viewer, by_owner),
        (viewer, by_editor),
    ):
        assert_status_body(remove_comment(http, caller, target["id"], task["id"]), 403, 7)
        assert_status_body(remove_comment(http, caller, target["id"]), 403, 7)
    assert list_comments(http, account, task["id"]) == [by_owner, by_editor, by_viewer]


# -- ids that do not match ---------------------------------------------------------------------
def test_a_comment_of_another_task_is_404_at_the_task_path(http, account) -> None:
    mine, other = create_task(http, account), create_task(http, account)
    created = create_comment(http, account, mine["id"])
    assert_status_body(edit_comment(http, account, created["id"], "moved?", other["id"]), 404, 5)
    assert_status_body(remove_comment(http, account, created["id"], other["id"]), 404, 5)
    assert list_comments(http, account, mine["id"]) == [created]
    assert list_comments(http, account, other["id"]) == []


def test_a_hidden_tasks_comment_is_404_even_through_my_own_task(http, account) -> None:
    mine = create_task(http, account)
    stranger = new_account(http)
    theirs = create_task(http, stranger)
    hidden = create_comment(http, stranger, theirs["id"])
    assert_status_body(edit_comment(http, account, hidden["id"], "x", mine["id"]), 404, 5)
    assert_status_body(remove_comment(http, account, hidden["id"], mine["id"]), 404, 5)
    assert_status_body(edit_comment(http, account, hidden["id"], "x"), 404, 5)
    assert_status_body(remove_comment(http, account, hidden["id"]), 404, 5)
    assert list_comments(http, stranger, theirs["id"]) == [hidden]


def test_missing_comments_and_tasks_are_404(http, account) -> None:
    task = create_task(http, account)
    created = create_comment(http, account, task["id"])
    assert_status_body(edit_comment(http, account, MISSING_ID, "x", task["id"]), 404, 5)
    assert_status_body(edit_comment(http, account, MISSING_ID, "x"), 404, 5)
    assert_status_body(remove_comment(http, account, MISSING_ID, task["id"]), 404, 5)
    assert_status_body(remove_comment(http, account, MISSING_ID), 404, 5)
    assert_status_body(edit_comment(http, account, created["id"], "x", MISSING_ID), 404, 5)
    assert_status_body(remove_comment(http, account, created["id"], MISSING_ID), 404, 5)
    assert list_comments(http, account, task["id"]) == [created]


def test_a_stranger_gets_404_on_every_comment_path_never_403(http, account) -> None:
    task = create_task(http, account)
    share_task(http, account, task["id"], new_user(http).username, "edit")
    created = create_comment(http, account, task["id"])
    stranger = new_account(http)
    responses = [
        add_comment(http, stranger, task["id"], "hi"),
        http.get(comments_path(task["id"]), headers=stranger.headers),
        edit_comment(http, stranger, created["id"], "x", task["id"]),
        edit_comment(http, stranger, created["id"], "x"),
        remove_comment(http, stranger, created["id"], task["id"]),
        remove_comment(http, stranger, created["id"]),
    ]
    for response in responses:
        assert_status_body(response, 404, 5)
    assert list_comments(http, account, task["id"]) == [created]


# -- auth ------------------------------------------------------------------------------------
def test_every_comment_path_without_a_token_is_401(http, account) -> None:
    task = create_task(http, account)
    created = create_comment(http, account, task["id"])
    one = comments_path(task["id"], created["id"])
    responses = [
        http.post(comments_path(task["id"]), json={"content": "anonymous"}),
        http.get(comments_path(task["id"])),
        http.patch(one, json={"content": "anonymous"}),
        http.patch(comment_alias(created["id"]), json={"content": "anonymous"}),
        http.delete(one),
        http.delete(comment_alias(created["id"])),
    ]
    for response in responses:
        assert_status_body(response, 401, 16)
    assert list_comments(http, account, task["id"]) == [created]


# -- the task's life -------------------------------------------------------------------------
def test_deleting_the_task_removes_its_comments(http, account) -> None:
    task = create_task(http, account)
    viewer = new_account(http)
    share_task(http, account, task["id"], viewer.username, "view")
    mine = create_comment(http, account, task["id"])
    theirs = create_comment(http, viewer, task["id"])
    assert http.delete(f"/tasks/{task['id']}", headers=account.headers).status_code == 204
    for reader in (account, viewer):
        assert_status_body(http.get(comments_path(task["id"]), headers=reader.headers), 404, 5)
        assert_status_body(add_comment(http, reader, task["id"], "late"), 404, 5)
    for author, comment in ((account, mine), (viewer, theirs)):
        assert_status_body(edit_comment(http, author, comment["id"], "x", task["id"]), 404, 5)
        assert_status_body(edit_comment(http, author, comment["id"], "x"), 404, 5)
        assert_status_body(remove_comment(http, author, comment["id"], task["id"]), 404, 5)
        assert_status_body(remove_comment(http, author, comment["id"]), 404, 5)


def test_a_revoked_viewer_loses_the_comments_and_their_own_comment(http, account) -> None:
    task = create_task(http, account)
    viewer = new_account(http)
    share_task(http, account, task["id"], viewer.username, "view")
    theirs = create_comment(http, viewer, task["id"])
    mine = create_comment(http, account, task["id"])
    unshare(http, account, task["id"], viewer.username)
    assert_status_body(http.get(comments_path(task["id"]), headers=viewer.headers), 404, 5)
    assert_status_body(add_comment(http, viewer, task["id"], "still here?"), 404, 5)
    assert_status_body(edit_comment(http, viewer, theirs["id"], "x", task["id"]), 404, 5)
    assert_status_body(edit_comment(http, viewer, theirs["id"], "x"), 404, 5)
    assert_status_body(remove_comment(http, viewer, theirs["id"], task["id"]), 404, 5)
    assert_status_body(remove_comment(http, viewer, theirs["id"]), 404, 5)
    assert_status_body(edit_comment(http, viewer, mine["id"], "x"), 404, 5)
    remaining = list_comments(http, account, task["id"])
    assert mine in remaining
    assert all(row["id"] != theirs["id"] or row == theirs for row in remaining), remaining
    # The owner may still delete what the former viewer wrote.
    if theirs in remaining:
        assert remove_comment(http, account, theirs["id"], task["id"]).status_code == 204
    assert list_comments(http, account, task["id"]) == [mine]


def test_a_viewer_downgraded_from_edit_still_comments(http, account) -> None:
    task = create_task(http, account)
    friend = new_account(http)
    share_task(http, account, task["id"], friend.username, "edit")
    first = create_comment(http, friend, task["id"])
    response = http.put(
        f"/tasks/{task['id']}/share/{friend.username}", json={"permission": "view"}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    second = create_comment(http, friend, task["id"])
    edited = edit_comment(http, friend, first["id"], "still mine")
    assert edited.status_code == 200, edited.text
    assert ids(list_comments(http, friend, task["id"])) == [first["id"], second["id"]]
