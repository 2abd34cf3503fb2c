"""One access check for every task path, as a matrix: each endpoint that names a task, called by the
task's OWNER, a user it is shared with for EDIT, one it is shared with for VIEW, and a STRANGER.

VIEW reads; EDIT also updates (PATCH, bulk, tags); only the OWNER deletes, shares, unshares or
changes a permission. No access at all is 404 (the task's existence is not disclosed); access
without the permission is 403. Every case builds its own users and task, so a destructive call
never meets another case, and every case proves its effect (or its absence) on the stored task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support.accounts import Account, log_in, new_account, new_user
from support.errors import assert_status_body
from support.sharing import SHARE_KEYS, share_task, shared_with_me
from support.tasks import bulk_update, create_task, get_task

ROLES = ["owner", "edit", "view", "stranger"]

# endpoint -> the HTTP status for owner, edit, view, stranger.
EXPECTED: dict[str, tuple[int, int, int, int]] = {
    "get": (200, 200, 200, 404),
    "patch": (200, 200, 403, 404),
    "delete": (204, 403, 403, 404),
    "add_tags": (200, 200, 403, 404),
    "remove_tag": (200, 200, 403, 404),
    "bulk": (200, 200, 403, 404),
    "share": (201, 403, 403, 404),
    "update_share": (200, 403, 403, 404),
    "unshare": (204, 403, 403, 404),
}
# The google.rpc.Status code of each refusal.
GRPC_CODE = {403: 7, 404: 5}
ORIGINAL = {"title": "the shared task", "priority": "low", "tags": ["keep", "drop"]}


@dataclass
class Case:
    owner: Account
    task: dict[str, Any]
    editor: Account  # shared with for EDIT; not logged in unless it acts
    viewer: Account  # shared with for VIEW; not logged in unless it acts
    third: Account  # the user the share endpoints name; not logged in
    actor: Account


def build(http: httpx.Client, endpoint: str, role: str) -> Case:
    """A fresh owner and task, shared with an editor and a viewer; for the endpoints that change or
    revoke a share, also shared (VIEW) with a third user. Only the owner and the actor log in."""
    owner = new_account(http)
    task = create_task(http, owner, **ORIGINAL)
    editor, viewer, third = new_user(http), new_user(http), new_user(http)
    share_task(http, owner, task["id"], editor.username, "edit")
    share_task(http, owner, task["id"], viewer.username, "view")
    if endpoint in ("update_share", "unshare"):
        share_task(http, owner, task["id"], third.username, "view")
    actor = {
        "owner": lambda: owner,
        "edit": lambda: log_in(http, editor),
        "view": lambda: log_in(http, viewer),
        "stranger": lambda: new_account(http),
    }[role]()
    return Case(owner, task, editor, viewer, third, actor)


def call(http: httpx.Client, endpoint: str, case: Case) -> httpx.Response:
    task_id, headers, third = case.task["id"], case.actor.headers, case.third.username
    requests: dict[str, Callable[[], httpx.Response]] = {
        "get": lambda: http.get(f"/tasks/{task_id}", headers=headers),
        "patch": lambda: http.patch(f"/tasks/{task_id}", json={"title": "changed"}, headers=headers),
        "delete": lambda: http.delete(f"/tasks/{task_id}", headers=headers),
        "add_tags": lambda: http.post(f"/tasks/{task_id}/tags", json=["added"], headers=headers),
        "remove_tag": lambda: http.delete(f"/tasks/{task_id}/tags/drop", headers=headers),
        "bulk": lambda: bulk_update(http, case.actor, [task_id], {"priority": "high"}),
        "share": lambda: http.post(
            f"/tasks/{task_id}/share",
            json={"shared_with_username": third, "permission": "edit"},
            headers=headers,
        ),
        "update_share": lambda: http.put(
            f"/tasks/{task_id}/share/{third}", json={"permission": "edit"}, headers=headers
        ),
        "unshare": lambda: http.delete(f"/tasks/{task_id}/share/{third}", headers=headers),
    }
    return requests[endpoint]()


def normal(task: dict[str, Any]) -> dict[str, Any]:
    """The task with its tags in a fixed order (their order is not contracted)."""
    return {**task, "tags": sorted(task["tags"])}


def owner_view(http: httpx.Client, case: Case) -> dict[str, Any]:
    return normal(get_task(http, case.owner, case.task["id"]))


def assert_succeeded(http: httpx.Client, endpoint: str, case: Case, response: httpx.Response) -> None:
    """The call's effect is visible to the owner (or, for share changes, in the share itself)."""
    task_id = case.task["id"]
    if response.status_code == 204:
        assert response.content == b"", response.content
    if endpoint == "get":
        assert normal(response.json()) == {**owner_view(http, case), "comments": []}
        assert response.json()["user_id"] == case.owner.id
    elif endpoint == "patch":
        assert response.json()["title"] == "changed"
        assert owner_view(http, case)["title"] == "changed"
    elif endpoint == "delete":
        assert_status_body(http.get(f"/tasks/{task_id}", headers=case.owner.headers), 404, 5)
    elif endpoint == "add_tags":
        assert owner_view(http, case)["tags"] == ["added", "drop", "keep"]
    elif endpoint == "remove_tag":
        assert owner_view(http, case)["tags"] == ["keep"]
    elif endpoint == "bulk":
        assert [task["id"] for task in response.json()] == [task_id]
        assert owner_view(http, case)["priority"] == "high"
    elif endpoint in ("share", "update_share"):
        created = response.json()
        assert set(created) == SHARE_KEYS, created
        assert (created["task_id"], created["shared_with_user_id"]) == (task_id, case.third.id)
        assert (created["shared_with_username"], created["permission"]) == (case.third.username, "edit")
    elif endpoint == "unshare":
        # It is gone: a second revoke finds nothing.
        again = http.delete(f"/tasks/{task_id}/share/{case.third.username}", headers=case.owner.headers)
        assert_status_body(again, 404, 5)
    if endpoint not in ("patch", "delete", "add_tags", "remove_tag", "bulk"):
        assert owner_view(http, case) == normal(case.task)


def assert_nothing_changed(http: httpx.Client, endpoint: str, case: Case) -> None:
    """The task reads back as created, and the share the call named is as it was."""
    assert owner_view(http, case) == normal(case.task)
    third, task_id, owner = case.third.username, case.task["id"], case.owner.headers
    if endpoint == "share":  # no share was made: the owner can still make it
        share_task(http, case.owner, task_id, third, "view")
    elif endpoint == "update_share":  # still VIEW
        mine = shared_with_me(http, log_in(http, case.third))
        assert [(task["id"], task.get("permission")) for task in mine] == [(task_id, "view")]
    elif endpoint == "unshare":  # still there: the owner can revoke it
        response = http.delete(f"/tasks/{task_id}/share/{third}", headers=owner)
        assert response.status_code == 204, response.text


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
        assert_nothing_changed(http, endpoint, case)
