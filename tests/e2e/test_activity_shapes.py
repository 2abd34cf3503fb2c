"""The activity log as the original task manager served it, through the gateway: every action's
`details` in the original's shape (API.md, Activity), key for key, with the richer detail beside it;
a task's timeline oldest first; a missing or deleted task's timeline 404 for everyone (owner, sharee,
stranger; JSON and native gRPC) while the delete stays in its actor's own /activity.

The caller's own writes show in its very next activity read (read-your-writes), so these tests read
right after writing; only what another service does later (a file removed with its task) is polled.
JSON is read from the raw body so that ids and sizes are checked to be integers, not 42.0."""

from __future__ import annotations

import json
from typing import Any

import grpc
import httpx
import psycopg
import pytest

from support.accounts import Account, bearer_metadata, new_account
from support.comments import create_comment, edit_comment, remove_comment
from support.errors import assert_status_body, rpc_error
from support.files import file_bytes, upload_multipart, uploaded_file
from support.polling import wait_until
from support.sharing import share_task
from support.tasks import bulk_update, create_task
from taskmanager.activity.v1 import activity_pb2, activity_pb2_grpc
from tm_devstack.services import SERVICES

MISSING_ID = 2_147_483_647  # the largest int32: no task has that id
TASK_FIELDS = {"title", "description", "priority", "completed", "due_date", "tags"}
UPDATE = {"changed_fields", "old_values", "new_values"}


def read(http: httpx.Client, account: Account, path: str, **params: Any) -> list[dict[str, Any]]:
    response = http.get(path, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = json.loads(response.text)
    return entries


def history(http: httpx.Client, account: Account, **params: Any) -> list[dict[str, Any]]:
    """The caller's /activity, newest first."""
    return read(http, account, "/activity", limit=100, **params)


def timeline(http: httpx.Client, account: Account, task_id: int) -> list[dict[str, Any]]:
    return read(http, account, f"/activity/tasks/{task_id}")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def assert_ints(details: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert type(details[key]) is int, (key, details)


def assert_oldest_first(entries: list[dict[str, Any]]) -> None:
    keys = [(e["created_at"], e["id"]) for e in entries]  # RFC 3339 in UTC: sorts as text
    assert keys == sorted(keys), keys


def sorted_tags(values: dict[str, Any]) -> dict[str, Any]:
    """Tag lists compared as sets (their order is not contracted)."""
    return {k: sorted(v) if k == "tags" else v for k, v in values.items()}


# -- details, one shape per action -------------------------------------------------------------
def test_task_actions_have_the_originals_details(http, account) -> None:
    friend = new_account(http)
    task = create_task(
        http, account, title="Buy milk", description="two litres", priority="low", due_date="2030-12-01",
        tags=["home"],
    )  # fmt: skip
    tid = task["id"]
    ok(
        http.patch(
            f"/tasks/{tid}", json={"priority": "high", "title": "Buy oat milk"}, headers=account.headers
        )
    )
    ok(http.patch(f"/tasks/{tid}", json={"completed": True, "due_date": None}, headers=account.headers))
    ok(http.post(f"/tasks/{tid}/tags", json=["shop"], headers=account.headers))
    ok(http.delete(f"/tasks/{tid}/tags/home", headers=account.headers))
    share_task(http, account, tid, friend.username, "view")
    path = f"/tasks/{tid}/share/{friend.username}"
    ok(http.put(path, json={"permission": "edit"}, headers=account.headers))
    ok(http.delete(path, headers=account.headers), 204)
    ok(http.delete(f"/tasks/{tid}", headers=account.headers), 204)

    entries = history(http, account)[::-1]  # oldest first, as the actions were taken
    assert [e["action"] for e in entries] == [
        "created", "updated", "updated", "updated", "updated", "shared", "updated", "unshared", "deleted",
    ]  # fmt: skip
    created, update, complete, tagged, untagged, shared, permission, unshared, deleted = (
        e["details"] for e in entries
    )

    assert set(created) == TASK_FIELDS | {"task"}
    assert {k: created[k] for k in TASK_FIELDS} == {
        "title": "Buy milk", "description": "two litres", "priority": "low", "completed": False,
        "due_date": "2030-12-01", "tags": ["home"],
    }  # fmt: skip
    assert created["task"]["id"] == tid

    assert set(update) == UPDATE | {"changes"}
    assert update["changed_fields"] == ["title", "priority"]  # in the Task's order
    assert update["old_values"] == {"title": "Buy milk", "priority": "low"}
    assert update["new_values"] == {"title": "Buy oat milk", "priority": "high"}

    assert set(complete) == UPDATE | {"changes"}  # a completion is an update
    assert complete["changed_fields"] == ["completed", "due_date"]
    assert complete["old_values"] == {"completed": False, "due_date": "2030-12-01"}
    assert complete["new_values"] == {"completed": True, "due_date": None}

    assert set(tagged) == UPDATE | {"changes", "added"}
    assert tagged["changed_fields"] == ["tags"]
    assert sorted_tags(tagged["old_values"]) == {"tags": ["home"]}
    assert sorted_tags(tagged["new_values"]) == {"tags": ["home", "shop"]}
    assert tagged["added"] == ["shop"]
    assert set(untagged) == UPDATE | {"changes", "removed"}
    assert untagged["changed_fields"] == ["tags"]
    assert sorted_tags(untagged["old_values"]) == {"tags": ["home", "shop"]}
    assert untagged["new_values"] == {"tags": ["shop"]}
    assert untagged["removed"] == "home"

    assert set(shared) == {"shared_with_username", "permission", "share"}
    assert (shared["shared_with_username"], shared["permission"]) == (friend.username, "view")
    assert set(permission) == {"shared_with_username", "permission", "old_permission", "new_permission"} | {
        *UPDATE, "share", "changes",
    }  # fmt: skip
    assert (permission["shared_with_username"], permission["permission"]) == (friend.username, "edit")
    assert (permission["old_permission"], permission["new_permission"]) == ("view", "edit")
    assert permission["changed_fields"] == ["permission"]
    assert (permission["old_values"], permission["new_values"]) == (
        {"permission": "view"},
        {"permission": "edit"},
    )
    assert set(unshared) == {"shared_with_username", "permission", "share"}
    assert (unshared["shared_with_username"], unshared["permission"]) == (friend.username, "edit")
    assert_ints(unshared["share"], "shared_with_user_id", "task_id")

    assert set(deleted) == TASK_FIELDS | {"task"}
    assert {k: deleted[k] for k in TASK_FIELDS} == {
        "title": "Buy oat milk", "description": "two litres", "priority": "high", "completed": True,
        "due_date": None, "tags": ["shop"],
    }  # fmt: skip


def test_a_task_without_optional_fields_logs_them_as_null(http, account) -> None:
    tid = create_task(http, account, title="bare")["id"]
    [created] = history(http, account)
    assert {k: created["details"][k] for k in TASK_FIELDS} == {
        "title": "bare", "description": None, "priority": "medium", "completed": False, "due_date": None,
        "tags": [],
    }  # fmt: skip
    assert created["resource_id"] == tid


def test_comment_actions_have_the_originals_details(http, account) -> None:
    tid = create_task(http, account)["id"]
    comment = create_comment(http, account, tid, "first words")
    ok(edit_comment(http, account, comment["id"], "second thoughts", task_id=tid))
    ok(remove_comment(http, account, comment["id"]), 204)

    created, updated, deleted = (e["details"] for e in history(http, account, resource_type="comment")[::-1])
    assert set(created) == {"task_id", "content", "comment"}
    assert (created["task_id"], created["content"]) == (tid, "first words")
    assert set(updated) == {"task_id", "content", "old_content", "new_content", "changes"} | UPDATE
    assert (updated["task_id"], updated["content"]) == (tid, "second thoughts")
    assert (updated["old_content"], updated["new_content"]) == ("first words", "second thoughts")
    assert updated["changed_fields"] == ["content"]
    assert updated["old_values"] == {"content": "first words"}
    assert updated["new_values"] == {"content": "second thoughts"}
    assert set(deleted) == {"task_id", "content", "comment"}
    assert (deleted["task_id"], deleted["content"]) == (tid, "second thoughts")
    for details in (created, updated, deleted):
        assert_ints(details, "task_id")


def test_file_actions_have_the_originals_details(http, account) -> None:
    tid = create_task(http, account)["id"]
    data = file_bytes(".pdf", 2000)
    file = uploaded_file(upload_multipart(http, account, tid, data, "report.pdf", "application/pdf"))
    ok(http.delete(f"/files/{file['id']}", headers=account.headers), 204)

    uploaded, deleted = history(http, account, resource_type="file")[::-1]
    assert (uploaded["action"], deleted["action"]) == ("uploaded", "deleted")
    original = {
        "filename": "report.pdf",
        "task_id": tid,
        "file_size": len(data),
        "content_type": "application/pdf",
    }
    assert set(uploaded["details"]) == {*original, "file"}
    assert {k: uploaded["details"][k] for k in original} == original
    assert set(deleted["details"]) == {*original, "file", "cause"}
    assert {k: deleted["details"][k] for k in original} == original
    assert deleted["details"]["cause"] == "request"
    for details in (uploaded["details"], deleted["details"]):
        assert_ints(details, "task_id", "file_size")
        assert_ints(details["file"], "id", "task_id", "file_size")


def test_a_bulk_update_logs_one_update_per_changed_task(http, account) -> None:
    low = create_task(http, account, priority="low")
    done = create_task(http, account, priority="low", completed=True)
    same = create_task(http, account, priority="high", completed=True)  # nothing to change
    ids = [low["id"], done["id"], same["id"]]
    ok(bulk_update(http, account, ids, {"priority": "high", "completed": True}))

    updates = {e["resource_id"]: e["details"] for e in history(http, account, action="updated")}
    assert set(updates) == {low["id"], done["id"]}
    assert {k: updates[low["id"]][k] for k in UPDATE} == {
        "changed_fields": ["completed", "priority"],
        "old_values": {"completed": False, "priority": "low"},
        "new_values": {"completed": True, "priority": "high"},
    }
    assert {k: updates[done["id"]][k] for k in UPDATE} == {
        "changed_fields": ["priority"],
        "old_values": {"priority": "low"},
        "new_values": {"priority": "high"},
    }


def test_stored_rows_keep_the_events_detail_and_the_shape_is_rendered_when_read(http, stack, account) -> None:
    """The log stores what it always stored (so rows recorded before serve the same shape)."""
    tid = create_task(http, account, title="stored")["id"]
    ok(http.patch(f"/tasks/{tid}", json={"title": "again"}, headers=account.headers))
    served = history(http, account)
    spec = next(s for s in SERVICES if s.name == "activity")
    with psycopg.connect(stack.service_database_url(spec, driver="postgresql")) as conn:
        rows = conn.execute(
            "SELECT id, details FROM entries WHERE user_id = %s ORDER BY id DESC", (account.id,)
        ).fetchall()
    assert [row[0] for row in rows] == [e["id"] for e in served]
    (_, update), (_, created) = rows
    assert set(update) == {"changes"} and set(created) == {"task"}
    assert served[0]["details"] == update | {
        "changed_fields": ["title"], "old_values": {"title": "stored"}, "new_values": {"title": "again"},
    }  # fmt: skip


# -- the timeline: oldest first ------------------------------------------------------------------
def test_the_timeline_is_oldest_first_for_owner_and_sharee(http, account) -> None:
    friend = new_account(http)
    tid = create_task(http, account)["id"]
    share_task(http, account, tid, friend.username, "edit")
    ok(http.patch(f"/tasks/{tid}", json={"title": "second"}, headers=account.headers))
    comment = create_comment(http, friend, tid)
    ok(http.patch(f"/tasks/{tid}", json={"title": "third"}, headers=account.headers))

    tl = timeline(http, account, tid)
    assert [(e["action"], e["resource_type"], e["user_id"]) for e in tl] == [
        ("created", "task", account.id),
        ("shared", "task", account.id),
        ("updated", "task", account.id),
        ("created", "comment", friend.id),
        ("updated", "task", account.id),
    ]
    assert tl[3]["resource_id"] == comment["id"]
    assert [e["details"]["new_values"]["title"] for e in tl if e["action"] == "updated"] == [
        "second",
        "third",
    ]
    assert_oldest_first(tl)
    assert timeline(http, friend, tid) == tl
    assert [e for e in tl if e["user_id"] == account.id] == history(http, account)[::-1]


def test_timeline_pages_over_native_grpc_are_oldest_first(http, gateway_channel, account) -> None:
    stub = activity_pb2_grpc.ActivityServiceStub(gateway_channel)
    tid = create_task(http, account)["id"]
    for n in range(4):
        ok(http.patch(f"/tasks/{tid}", json={"title": f"take {n}"}, headers=account.headers))
    tl = timeline(http, account, tid)
    ids, token = [], ""
    while True:
        request = activity_pb2.GetTaskTimelineRequest(task_id=tid, page_size=2, page_token=token)
        page = stub.GetTaskTimeline(request, metadata=bearer_metadata(account))
        ids += [e.id for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert ids == [e["id"] for e in tl] and len(ids) == 5
    # The gRPC Struct holds numbers as doubles; JSON prints them whole.
    [first] = stub.GetTaskTimeline(
        activity_pb2.GetTaskTimelineRequest(task_id=tid, page_size=1), metadata=bearer_metadata(account)
    ).entries
    assert first.action == "created" and first.details["task"]["id"] == float(tid)


# -- 404: missing and deleted tasks, for everyone ------------------------------------------------
def assert_not_found(http: httpx.Client, stub: Any, who: Account, task_id: int) -> None:
    assert_status_body(http.get(f"/activity/tasks/{task_id}", headers=who.headers), 404, 5)
    request = activity_pb2.GetTaskTimelineRequest(task_id=task_id)
    error = rpc_error(lambda: stub.GetTaskTimeline(request, metadata=bearer_metadata(who)))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error


@pytest.fixture
def people(http) -> tuple[Account, Account, Account]:
    """An owner, a user the owner shares with, and a stranger."""
    return new_account(http), new_account(http), new_account(http)


def test_a_task_that_never_existed_is_404_for_everyone(http, gateway_channel, people) -> None:
    stub = activity_pb2_grpc.ActivityServiceStub(gateway_channel)
    for who in people:
        assert_not_found(http, stub, who, MISSING_ID)


def test_a_deleted_task_is_404_for_owner_sharee_and_stranger(http, gateway_channel, people) -> None:
    stub = activity_pb2_grpc.ActivityServiceStub(gateway_channel)
    owner, sharee, stranger = people
    tid = create_task(http, owner)["id"]
    share_task(http, owner, tid, sharee.username, "edit")
    create_comment(http, sharee, tid)
    file = uploaded_file(upload_multipart(http, owner, tid, file_bytes(".txt", 10), "n.txt", "text/plain"))
    assert len(timeline(http, owner, tid)) == 4
    wait_until(  # the sharee's own comment shows at once; the owner's upload reaches it with the event lag
        lambda: timeline(http, sharee, tid),
        "the sharee's timeline to hold 4 entries",
        15,
        accept=lambda tl: len(tl) == 4,
    )
    assert_not_found(http, stub, stranger, tid)

    ok(http.delete(f"/tasks/{tid}", headers=owner.headers), 204)
    for who in people:
        assert_not_found(http, stub, who, tid)
    # The delete stays in the owner's own history, with the task's last fields; the file removed
    # with it too, once the files service has removed it.
    mine = wait_until(
        lambda: history(http, owner), "the file removed with its task", 15, accept=lambda h: len(h) == 5
    )
    assert [(e["action"], e["resource_type"]) for e in mine[:2]] == [("deleted", "file"), ("deleted", "task")]
    assert mine[1]["resource_id"] == tid and set(mine[1]["details"]) == TASK_FIELDS | {"task"}
    assert mine[0]["details"]["cause"] == "task_deleted" and mine[0]["resource_id"] == file["id"]
    assert [e["action"] for e in history(http, sharee)] == ["created"]  # the sharee's comment stays
    assert history(http, stranger) == []
    for who in people:  # and the timeline stays gone
        assert_not_found(http, stub, who, tid)
