"""Sharing through the gateway as JSON/HTTP: POST /tasks/{id}/share, GET /tasks/shared-with-me,
PUT and DELETE /tasks/{id}/share/{username}, and what a share lets its holder do.

Every test registers its own users (users who never call the API are registered without logging
in), so it sees only its own tasks and shares whatever else the database holds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.accounts import Account, log_in, new_account, new_user, unique
from support.errors import assert_bad_request, assert_status_body
from support.sharing import SHARE_KEYS, share, share_task, shared_with_me
from support.tasks import (
    TASK_OPTIONAL,
    TASK_REQUIRED,
    assert_stats,
    bulk_update,
    create_task,
    get_task,
    list_tasks,
)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MISSING_ID = 2_147_483_647  # the largest int32: no task has that id


def normal(task: dict[str, Any]) -> dict[str, Any]:
    """The task with its tags in a fixed order (their order is not contracted)."""
    return {**task, "tags": sorted(task["tags"])}


def without_permission(task: dict[str, Any]) -> dict[str, Any]:
    return normal({key: value for key, value in task.items() if key != "permission"})


def names(message: str, task_id: int) -> bool:
    """Whether an error message names this id (as a whole number, not part of another)."""
    return re.search(rf"(?<!\d){task_id}(?!\d)", message) is not None


def permissions(tasks: list[dict[str, Any]]) -> dict[int, str | None]:
    return {task["id"]: task.get("permission") for task in tasks}


def put_permission(http, owner: Account, task_id: int, username: str, body: Any):
    return http.put(f"/tasks/{task_id}/share/{username}", json=body, headers=owner.headers)


def unshare(http, owner: Account, task_id: int, username: str):
    return http.delete(f"/tasks/{task_id}/share/{username}", headers=owner.headers)


# -- POST /tasks/{id}/share ------------------------------------------------------------------
def test_share_answers_201_with_the_share_and_view_by_default(http, account) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    before = datetime.now(UTC) - timedelta(minutes=5)
    response = share(http, account, task["id"], friend.username)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == SHARE_KEYS, created
    assert type(created["id"]) is int and created["id"] > 0
    assert created["task_id"] == task["id"]
    assert created["shared_with_user_id"] == friend.id
    assert created["shared_with_username"] == friend.username
    assert created["permission"] == "view"
    assert RFC3339.match(created["shared_at"]), created
    shared_at = datetime.fromisoformat(created["shared_at"].replace("Z", "+00:00"))
    assert before < shared_at < datetime.now(UTC) + timedelta(minutes=5)


@pytest.mark.parametrize("permission", ["view", "edit"])
def test_share_with_an_explicit_permission(http, account, permission) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    created = share_task(http, account, task["id"], friend.username, permission)
    assert created["permission"] == permission
    mine = shared_with_me(http, log_in(http, friend))
    assert permissions(mine) == {task["id"]: permission}


def test_share_ids_differ(http, account) -> None:
    task = create_task(http, account)
    first = share_task(http, account, task["id"], new_user(http).username)
    second = share_task(http, account, task["id"], new_user(http).username)
    assert first["id"] != second["id"]


def test_share_with_an_unknown_user_is_404(http, account) -> None:
    task = create_task(http, account)
    assert_status_body(share(http, account, task["id"], unique("nobody")), 404, 5)


def test_share_with_yourself_is_400_naming_shared_with_username(http, account) -> None:
    task = create_task(http, account)
    assert_bad_request(share(http, account, task["id"], account.username), "shared_with_username")
    assert shared_with_me(http, account) == []


def test_share_twice_is_409_and_keeps_the_first_share(http, account) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    share_task(http, account, task["id"], friend.username, "view")
    assert_status_body(share(http, account, task["id"], friend.username, "edit"), 409, 6)
    assert_status_body(share(http, account, task["id"], friend.username, "view"), 409, 6)
    assert permissions(shared_with_me(http, log_in(http, friend))) == {task["id"]: "view"}


@pytest.mark.parametrize("permission", ["owner", "admin", "", "VIEW_X"])
def test_share_with_a_bad_permission_is_400_naming_permission(http, account, permission) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    assert_bad_request(share(http, account, task["id"], friend.username, permission), "permission")
    # Nothing was shared: the owner can still share it.
    share_task(http, account, task["id"], friend.username)


def test_share_of_a_missing_task_is_404(http, account) -> None:
    friend = new_user(http)
    assert_status_body(share(http, account, MISSING_ID, friend.username), 404, 5)


def test_share_without_a_token_is_401(http, account) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    response = http.post(f"/tasks/{task['id']}/share", json={"shared_with_username": friend.username})
    assert_status_body(response, 401, 16)
    share_task(http, account, task["id"], friend.username)


def test_a_stranger_sharing_my_task_with_themself_is_404(http, account) -> None:
    task = create_task(http, account)
    stranger = new_account(http)
    assert_status_body(share(http, stranger, task["id"], stranger.username, "edit"), 404, 5)
    assert_status_body(http.get(f"/tasks/{task['id']}", headers=stranger.headers), 404, 5)


def test_an_editor_cannot_reshare_nor_raise_their_own_permission(http, account) -> None:
    task = create_task(http, account)
    editor, viewer = new_account(http), new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    share_task(http, account, task["id"], viewer.username, "view")
    assert_status_body(share(http, editor, task["id"], new_user(http).username), 403, 7)
    assert_status_body(
        put_permission(http, viewer, task["id"], viewer.username, {"permission": "edit"}), 403, 7
    )
    assert_status_body(
        put_permission(http, editor, task["id"], viewer.username, {"permission": "edit"}), 403, 7
    )
    assert_status_body(unshare(http, editor, task["id"], viewer.username), 403, 7)
    assert permissions(shared_with_me(http, viewer)) == {task["id"]: "view"}


# -- GET /tasks/shared-with-me ---------------------------------------------------------------
def test_shared_with_me_is_a_bare_array_of_tasks_with_my_permission(http, account) -> None:
    alice, bob = new_account(http), new_account(http)
    a_view = create_task(http, alice, title="a-view", description="d", due_date="2031-01-02", tags=["x"])
    a_edit = create_task(http, alice, title="a-edit", priority="high")
    b_edit = create_task(http, bob, title="b-edit", completed=True)
    create_task(http, alice, title="not shared")
    share_task(http, alice, a_view["id"], account.username, "view")
    share_task(http, alice, a_edit["id"], account.username, "edit")
    share_task(http, bob, b_edit["id"], account.username, "edit")
    mine = shared_with_me(http, account)
    assert permissions(mine) == {a_view["id"]: "view", a_edit["id"]: "edit", b_edit["id"]: "edit"}
    assert len(mine) == 3, mine  # each once
    originals = {task["id"]: task for task in (a_view, a_edit, b_edit)}
    for task in mine:
        assert TASK_REQUIRED <= set(task) <= TASK_REQUIRED | TASK_OPTIONAL | {"permission"}, task
        assert without_permission(task) == normal(originals[task["id"]])


def test_shared_with_me_is_empty_for_a_new_user(http, account) -> None:
    create_task(http, account)
    assert shared_with_me(http, account) == []


def test_shared_with_me_never_lists_my_own_tasks(http, account) -> None:
    own = create_task(http, account)
    share_task(http, account, own["id"], new_user(http).username, "edit")
    other = new_account(http)
    theirs = create_task(http, other)
    share_task(http, other, theirs["id"], account.username)
    assert permissions(shared_with_me(http, account)) == {theirs["id"]: "view"}


def test_shared_with_me_follows_permission_changes_and_revocation(http, account) -> None:
    friend = new_account(http)
    first, second = create_task(http, account), create_task(http, account)
    share_task(http, account, first["id"], friend.username, "view")
    share_task(http, account, second["id"], friend.username, "view")
    response = put_permission(http, account, first["id"], friend.username, {"permission": "edit"})
    assert response.status_code == 200, response.text
    assert permissions(shared_with_me(http, friend)) == {first["id"]: "edit", second["id"]: "view"}
    assert unshare(http, account, second["id"], friend.username).status_code == 204
    assert permissions(shared_with_me(http, friend)) == {first["id"]: "edit"}


def test_shared_with_me_shows_the_current_task(http, account) -> None:
    friend = new_account(http)
    task = create_task(http, account, title="before")
    share_task(http, account, task["id"], friend.username)
    response = http.patch(f"/tasks/{task['id']}", json={"title": "after"}, headers=account.headers)
    assert response.status_code == 200, response.text
    (listed,) = shared_with_me(http, friend)
    assert without_permission(listed) == normal(get_task(http, account, task["id"]))


def test_shared_with_me_without_a_token_is_401(http) -> None:
    assert_status_body(http.get("/tasks/shared-with-me"), 401, 16)


def test_shared_tasks_are_not_in_my_list_nor_my_stats(http, account) -> None:
    own = create_task(http, account, title="mine", priority="low", tags=["own"])
    other = new_account(http)
    for permission in ("view", "edit"):
        theirs = create_task(http, other, title=f"theirs {permission}", priority="high", tags=["their"])
        share_task(http, other, theirs["id"], account.username, permission)
    page = list_tasks(http, account)
    assert [task["id"] for task in page["tasks"]] == [own["id"]]
    assert page["total"] == 1
    assert list_tasks(http, account, {"search": "theirs"})["total"] == 0
    assert list_tasks(http, account, {"tags": "their"})["total"] == 0
    assert_stats(http, account, [own])


def test_sharing_does_not_move_the_task_out_of_the_owners_list(http, account) -> None:
    task = create_task(http, account)
    share_task(http, account, task["id"], new_user(http).username, "edit")
    page = list_tasks(http, account)
    assert [row["id"] for row in page["tasks"]] == [task["id"]]
    assert_stats(http, account, [task])


# -- PUT /tasks/{id}/share/{username} --------------------------------------------------------
def test_update_permission_answers_200_with_the_share(http, account) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    created = share_task(http, account, task["id"], friend.username, "view")
    response = put_permission(http, account, task["id"], friend.username, {"permission": "edit"})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert set(updated) == SHARE_KEYS, updated
    assert RFC3339.match(updated["shared_at"]), updated
    # The same share (when it was first shared or last changed is not contracted).
    assert {**updated, "shared_at": None} == {**created, "permission": "edit", "shared_at": None}
    back = put_permission(http, account, task["id"], friend.username, {"permission": "view"})
    assert back.status_code == 200, back.text
    assert back.json()["permission"] == "view"


def test_update_permission_to_the_same_value_is_200(http, account) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    share_task(http, account, task["id"], friend.username, "edit")
    response = put_permission(http, account, task["id"], friend.username, {"permission": "edit"})
    assert response.status_code == 200, response.text
    assert response.json()["permission"] == "edit"


def test_update_permission_changes_what_the_user_may_do(http, account) -> None:
    task = create_task(http, account)
    friend = new_account(http)
    share_task(http, account, task["id"], friend.username, "view")
    patch = {"title": "by friend"}
    assert_status_body(http.patch(f"/tasks/{task['id']}", json=patch, headers=friend.headers), 403, 7)
    assert (
        put_permission(http, account, task["id"], friend.username, {"permission": "edit"}).status_code == 200
    )
    response = http.patch(f"/tasks/{task['id']}", json=patch, headers=friend.headers)
    assert response.status_code == 200, response.text
    assert (
        put_permission(http, account, task["id"], friend.username, {"permission": "view"}).status_code == 200
    )
    again = http.patch(f"/tasks/{task['id']}", json={"title": "again"}, headers=friend.headers)
    assert_status_body(again, 403, 7)
    assert get_task(http, account, task["id"])["title"] == "by friend"


def test_update_permission_of_a_user_not_shared_with_is_404(http, account) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    response = put_permission(http, account, task["id"], friend.username, {"permission": "edit"})
    assert_status_body(response, 404, 5)
    unknown = put_permission(http, account, task["id"], unique("nobody"), {"permission": "edit"})
    assert_status_body(unknown, 404, 5)
    # Still not shared: sharing now creates it.
    share_task(http, account, task["id"], friend.username)


@pytest.mark.parametrize(
    "body",
    [{}, {"permission": ""}, {"permission": "owner"}, {"permission": "admin"}, {"permission": None}],
    ids=["absent", "empty", "owner", "admin", "null"],
)
def test_update_permission_missing_or_bad_is_400_naming_permission(http, account, body) -> None:
    task = create_task(http, account)
    friend = new_account(http)
    share_task(http, account, task["id"], friend.username, "view")
    assert_bad_request(put_permission(http, account, task["id"], friend.username, body), "permission")
    assert permissions(shared_with_me(http, friend)) == {task["id"]: "view"}


def test_update_permission_of_a_missing_task_is_404(http, account) -> None:
    friend = new_user(http)
    response = put_permission(http, account, MISSING_ID, friend.username, {"permission": "edit"})
    assert_status_body(response, 404, 5)


# -- DELETE /tasks/{id}/share/{username} -----------------------------------------------------
def test_unshare_is_204_and_the_user_loses_the_task(http, account) -> None:
    task = create_task(http, account)
    friend = new_account(http)
    share_task(http, account, task["id"], friend.username, "edit")
    assert get_task(http, friend, task["id"])["id"] == task["id"]
    response = unshare(http, account, task["id"], friend.username)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_status_body(http.get(f"/tasks/{task['id']}", headers=friend.headers), 404, 5)
    patch = http.patch(f"/tasks/{task['id']}", json={"title": "x"}, headers=friend.headers)
    assert_status_body(patch, 404, 5)
    assert shared_with_me(http, friend) == []
    assert normal(get_task(http, account, task["id"])) == normal(task)


def test_unshare_when_not_shared_is_404(http, account) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    assert_status_body(unshare(http, account, task["id"], friend.username), 404, 5)
    assert_status_body(unshare(http, account, task["id"], unique("nobody")), 404, 5)
    share_task(http, account, task["id"], friend.username)
    assert unshare(http, account, task["id"], friend.username).status_code == 204
    assert_status_body(unshare(http, account, task["id"], friend.username), 404, 5)


def test_unshare_then_share_again(http, account) -> None:
    task = create_task(http, account)
    friend = new_account(http)
    share_task(http, account, task["id"], friend.username, "edit")
    assert unshare(http, account, task["id"], friend.username).status_code == 204
    share_task(http, account, task["id"], friend.username, "view")
    assert permissions(shared_with_me(http, friend)) == {task["id"]: "view"}


def test_unshare_touches_only_that_user(http, account) -> None:
    task = create_task(http, account)
    kept, dropped = new_account(http), new_user(http)
    share_task(http, account, task["id"], kept.username, "edit")
    share_task(http, account, task["id"], dropped.username, "edit")
    assert unshare(http, account, task["id"], dropped.username).status_code == 204
    assert permissions(shared_with_me(http, kept)) == {task["id"]: "edit"}


def test_unshare_on_a_missing_task_is_404(http, account) -> None:
    assert_status_body(unshare(http, account, MISSING_ID, new_user(http).username), 404, 5)


# -- what a share allows ---------------------------------------------------------------------
def test_a_viewer_reads_the_owners_task(http, account) -> None:
    task = create_task(http, account, description="for you", tags=["t"])
    viewer = new_account(http)
    share_task(http, account, task["id"], viewer.username)
    seen = get_task(http, viewer, task["id"])
    assert seen["user_id"] == account.id
    assert without_permission(seen) == normal(task)


def test_a_viewer_changes_nothing(http, account) -> None:
    task = create_task(http, account, tags=["t"])
    viewer = new_account(http)
    share_task(http, account, task["id"], viewer.username, "view")
    path, headers = f"/tasks/{task['id']}", viewer.headers
    assert_status_body(http.patch(path, json={"completed": True}, headers=headers), 403, 7)
    assert_status_body(http.post(f"{path}/tags", json=["v"], headers=headers), 403, 7)
    assert_status_body(http.delete(f"{path}/tags/t", headers=headers), 403, 7)
    assert_status_body(http.delete(path, headers=headers), 403, 7)
    assert normal(get_task(http, account, task["id"])) == normal(task)


def test_an_editor_edits_and_the_owner_sees_it(http, account) -> None:
    task = create_task(http, account, title="plan", tags=["a"])
    editor = new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    path = f"/tasks/{task['id']}"
    response = http.patch(path, json={"title": "new plan", "priority": "high"}, headers=editor.headers)
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == account.id  # still the owner's task
    assert http.post(f"{path}/tags", json=["b"], headers=editor.headers).status_code == 200
    assert http.delete(f"{path}/tags/a", headers=editor.headers).status_code == 200
    stored = get_task(http, account, task["id"])
    assert (stored["title"], stored["priority"], stored["tags"], stored["user_id"]) == (
        "new plan",
        "high",
        ["b"],
        account.id,
    )
    assert "updated_at" in stored
    # Still not the editor's own task.
    assert list_tasks(http, editor)["total"] == 0


def test_an_editors_changes_count_in_the_owners_stats_not_the_editors(http, account) -> None:
    task = create_task(http, account, priority="low", tags=["shared"])
    editor = new_account(http)
    editors_own = create_task(http, editor, priority="medium")
    share_task(http, account, task["id"], editor.username, "edit")
    assert_stats(http, account, [task])  # warms the owner's cached stats
    assert_stats(http, editor, [editors_own])
    patch = {"completed": True, "priority": "high", "tags": ["done"]}
    response = http.patch(f"/tasks/{task['id']}", json=patch, headers=editor.headers)
    assert response.status_code == 200, response.text
    assert_stats(http, account, [get_task(http, account, task["id"])])
    assert_stats(http, editor, [editors_own])
    response = http.post(f"/tasks/{task['id']}/tags", json=["more"], headers=editor.headers)
    assert response.status_code == 200, response.text
    stats = assert_stats(http, account, [get_task(http, account, task["id"])])
    assert stats["by_tag"] == {"done": 1, "more": 1}
    assert_stats(http, editor, [editors_own])
    response = http.delete(f"/tasks/{task['id']}/tags/done", headers=editor.headers)
    assert response.status_code == 200, response.text
    stats = assert_stats(http, account, [get_task(http, account, task["id"])])
    assert stats["by_tag"] == {"more": 1}
    assert_stats(http, editor, [editors_own])


def test_deleting_a_shared_task_removes_it_for_everyone(http, account) -> None:
    task = create_task(http, account)
    editor = new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    assert http.delete(f"/tasks/{task['id']}", headers=account.headers).status_code == 204
    assert shared_with_me(http, editor) == []
    assert_status_body(http.get(f"/tasks/{task['id']}", headers=editor.headers), 404, 5)


def test_a_task_shared_with_someone_else_stays_hidden_from_a_stranger(http, account) -> None:
    task = create_task(http, account)
    share_task(http, account, task["id"], new_user(http).username, "edit")
    stranger = new_account(http)
    foreign = assert_status_body(http.get(f"/tasks/{task['id']}", headers=stranger.headers), 404, 5)
    missing = assert_status_body(http.get(f"/tasks/{MISSING_ID}", headers=stranger.headers), 404, 5)
    assert foreign["message"].replace(str(task["id"]), "N") == missing["message"].replace(
        str(MISSING_ID), "N"
    )


# -- PATCH /tasks/bulk with shared tasks -----------------------------------------------------
def test_bulk_over_own_and_edit_shared_tasks_succeeds(http, account) -> None:
    own = create_task(http, account, priority="low")
    owner = new_account(http)
    shared = create_task(http, owner, priority="low")
    share_task(http, owner, shared["id"], account.username, "edit")
    assert_stats(http, account, [own])  # warms both cached stats
    assert_stats(http, owner, [shared])
    ids = [shared["id"], own["id"]]
    response = bulk_update(http, account, ids, {"priority": "high", "completed": True})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [task["id"] for task in answer] == ids
    assert [task["user_id"] for task in answer] == [owner.id, account.id]
    for task_owner, task_id in ((owner, shared["id"]), (account, own["id"])):
        stored = get_task(http, task_owner, task_id)
        assert (stored["priority"], stored["completed"]) == ("high", True)
    # Each task still counts for its own owner only.
    assert_stats(http, account, [get_task(http, account, own["id"])])
    assert_stats(http, owner, [get_task(http, owner, shared["id"])])


def test_bulk_with_a_view_only_task_is_403_and_changes_nothing(http, account) -> None:
    own = create_task(http, account)
    owner = new_account(http)
    editable, readonly = create_task(http, owner), create_task(http, owner)
    share_task(http, owner, editable["id"], account.username, "edit")
    share_task(http, owner, readonly["id"], account.username, "view")
    ids = [own["id"], editable["id"], readonly["id"]]
    assert_status_body(bulk_update(http, account, ids, {"title": "changed"}), 403, 7)
    assert normal(get_task(http, account, own["id"])) == normal(own)
    for task in (editable, readonly):
        assert normal(get_task(http, owner, task["id"])) == normal(task)


def test_bulk_with_a_strangers_task_is_404_naming_it_and_changes_nothing(http, account) -> None:
    own = create_task(http, account)
    owner = new_account(http)
    editable = create_task(http, owner)
    share_task(http, owner, editable["id"], account.username, "edit")
    hidden = create_task(http, owner)
    ids = [own["id"], editable["id"], hidden["id"]]
    body = assert_status_body(bulk_update(http, account, ids, {"title": "changed"}), 404, 5)
    assert names(body["message"], hidden["id"]), body
    assert normal(get_task(http, account, own["id"])) == normal(own)
    for task in (editable, hidden):
        assert normal(get_task(http, owner, task["id"])) == normal(task)


def test_bulk_with_both_a_view_only_and_a_hidden_task_changes_nothing(http, account) -> None:
    own = create_task(http, account)
    owner = new_account(http)
    readonly, hidden = create_task(http, owner), create_task(http, owner)
    share_task(http, owner, readonly["id"], account.username, "view")
    response = bulk_update(http, account, [own["id"], readonly["id"], hidden["id"]], {"title": "changed"})
    assert response.status_code in (403, 404), response.text  # which refusal wins is not contracted
    assert_status_body(response, response.status_code, {403: 7, 404: 5}[response.status_code])
    assert normal(get_task(http, account, own["id"])) == normal(own)
    for task in (readonly, hidden):
        assert normal(get_task(http, owner, task["id"])) == normal(task)
