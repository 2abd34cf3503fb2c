"""The activity log through the gateway: GET /activity (the caller's own actions, filters, offset
paging), GET /activity/tasks/{id} (a task's timeline, oldest first, and who may read it), GET
/activity/stats, and page tokens over native gRPC through Envoy. test_activity_shapes.py holds each
action's `details` key for key; here details are compared as a whole, tag lists sorted.

Entries are written from the event streams, so they appear a little after the request that caused
them. No test sleeps for a fixed time: each polls (up to SETTLE_TIMEOUT) until the entry of its last
action is there. A task's events, and one user's sequential requests, reach the stream in commit
order and the consumer applies them in stream order, so once the last entry is there every earlier
one is too, and the test then checks the exact list (which also catches an event applied twice).
Access to a timeline changes in the same transaction as the entry of the share, unshare or delete
that changed it, so once that entry is visible the new access rules hold.

Every test registers its own users, so whatever else the database holds, each sees only its own."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import grpc
import httpx
import pytest

from support.accounts import Account, bearer_metadata, new_account, new_user
from support.comments import create_comment, edit_comment, remove_comment
from support.errors import assert_bad_request, assert_status_body, rpc_error, violated_fields
from support.events import TASK_EVENTS_STREAM, StreamReader, task_events
from support.files import file_bytes, upload_multipart, uploaded_file
from support.polling import wait_until
from support.sharing import share_task
from support.tasks import bulk_update, create_task, get_task, stack_page_tokens
from taskmanager.activity.v1 import activity_pb2, activity_pb2_grpc

T = TypeVar("T")

SETTLE_TIMEOUT = 15.0  # seconds an action may take to reach the activity log
MISSING_ID = 2_147_483_647  # the largest int32: no task has that id
ENTRY_KEYS = frozenset(
    {"id", "user_id", "username", "action", "resource_type", "resource_id", "details", "created_at"}
)
STATS_KEYS = frozenset({"total_activities", "by_action", "by_resource"})
TIME_KEYS = frozenset({"created_at", "updated_at", "shared_at", "uploaded_at"})
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# -- helpers ---------------------------------------------------------------------------------
@pytest.fixture
def since() -> datetime:
    """A moment before the test's first request (a little earlier: clocks and rounding)."""
    return datetime.now(UTC) - timedelta(seconds=1)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def normal(value: Any, key: str | None = None) -> Any:
    """A JSON value in comparable terms: times as datetimes, lists of strings (tag lists, whose
    order is not contracted) sorted, the caller's `permission` on a Task left out."""
    if isinstance(value, dict):
        return {k: normal(v, k) for k, v in value.items() if k != "permission" or key != "task"}
    if isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return sorted(value)
        return [normal(item) for item in value]
    if isinstance(value, str) and key in TIME_KEYS:
        return when(value)
    return value


def task_snapshot(task: dict[str, Any]) -> dict[str, Any]:
    """A Task JSON of the API as the activity log's snapshot of it (no caller's permission, nor the
    comments GET /tasks/{id} embeds)."""
    return normal({key: value for key, value in task.items() if key not in ("permission", "comments")})


def get_list(http: httpx.Client, account: Account, path: str, params: Any = None) -> list[dict[str, Any]]:
    """GET `path` as `account`; asserts 200 and a bare JSON array of entries; returns it."""
    response = http.get(path, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    assert isinstance(entries, list), entries
    for entry in entries:
        assert set(entry) <= ENTRY_KEYS and set(entry) >= ENTRY_KEYS - {"username", "details"}, entry
        assert RFC3339.match(entry["created_at"]), entry
    return entries


def history(http: httpx.Client, account: Account, **params: Any) -> list[dict[str, Any]]:
    """GET /activity?<params> as `account`."""
    return get_list(http, account, "/activity", params)


def timeline(http: httpx.Client, account: Account, task_id: int) -> list[dict[str, Any]]:
    """GET /activity/tasks/{task_id} as `account` (asserting 200)."""
    return get_list(http, account, f"/activity/tasks/{task_id}")


def get_stats(http: httpx.Client, account: Account) -> dict[str, Any]:
    response = http.get("/activity/stats", headers=account.headers)
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()
    assert set(stats) == STATS_KEYS, stats
    return stats


def poll(read: Callable[[], T], until: Callable[[T], bool], what: str) -> T:
    """read() until until(value) holds (up to SETTLE_TIMEOUT seconds); returns that value."""
    return wait_until(read, what, SETTLE_TIMEOUT, accept=until)


def settled_history(http: httpx.Client, account: Account, count: int) -> list[dict[str, Any]]:
    """The account's whole history (at most 100 entries) once it holds at least `count` entries."""
    return poll(
        lambda: history(http, account, limit=100),
        lambda entries: len(entries) >= count,
        f"{count} entries in the history of user {account.id}",
    )


def settled_timeline(http: httpx.Client, account: Account, task_id: int, count: int) -> list[dict[str, Any]]:
    """The task's timeline read by `account` once it holds at least `count` entries (a 404, until
    the entry that gives `account` access is there, reads as no entries yet)."""

    def read() -> list[dict[str, Any]]:
        response = http.get(f"/activity/tasks/{task_id}", headers=account.headers)
        if response.status_code == 404:
            return []
        return timeline(http, account, task_id)

    return poll(
        read,
        lambda entries: len(entries) >= count,
        f"{count} entries in the timeline of task {task_id}",
    )


Summary = tuple[str, str, int, int]


def summary(entries: list[dict[str, Any]]) -> list[Summary]:
    """(action, resource_type, resource_id, user_id) of each entry."""
    return [(e["action"], e["resource_type"], e["resource_id"], e["user_id"]) for e in entries]


def assert_newest_first(entries: list[dict[str, Any]], newest_first: bool = True) -> None:
    """Ordered by event time, then id (descending, or ascending when not `newest_first`); no id
    twice, no event content twice."""
    keys = [(when(e["created_at"]), e["id"]) for e in entries]
    assert keys == sorted(keys, reverse=newest_first), keys
    assert len({e["id"] for e in entries}) == len(entries), entries
    contents = [json.dumps({k: v for k, v in e.items() if k != "id"}, sort_keys=True) for e in entries]
    assert len(set(contents)) == len(contents), [c for c, n in Counter(contents).items() if n > 1]


def assert_oldest_first(entries: list[dict[str, Any]]) -> None:
    """A timeline's order: by event time, then id, both ascending; nothing twice."""
    assert_newest_first(entries, newest_first=False)


TASK_FIELDS = ("title", "description", "priority", "completed", "due_date", "tags")


def task_fields(task: dict[str, Any]) -> dict[str, Any]:
    """A created or deleted task's details as the original logged them (fields at the top)."""
    return {name: task.get(name) for name in TASK_FIELDS}


def changed(changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An update's details as the original logged them, with the {field: {old, new}} beside."""
    return {
        "changes": changes,
        "changed_fields": list(changes),
        "old_values": {name: change["old"] for name, change in changes.items()},
        "new_values": {name: change["new"] for name, change in changes.items()},
    }


def assert_entry(
    entry: dict[str, Any],
    action: str,
    resource_type: str,
    resource_id: int,
    actor: Account,
    details: dict[str, Any],
    since: datetime,
) -> None:
    assert (entry["action"], entry["resource_type"], entry["resource_id"]) == (
        action,
        resource_type,
        resource_id,
    ), entry
    assert (entry["user_id"], entry.get("username")) == (actor.id, actor.username), entry
    assert normal(entry["details"]) == normal(details), entry
    assert since <= when(entry["created_at"]) <= datetime.now(UTC) + timedelta(seconds=1), entry


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def patch_task(http: httpx.Client, account: Account, task_id: int, patch: dict[str, Any]) -> dict[str, Any]:
    task: dict[str, Any] = ok(http.patch(f"/tasks/{task_id}", json=patch, headers=account.headers))
    return task


def delete_task(http: httpx.Client, account: Account, task_id: int) -> None:
    ok(http.delete(f"/tasks/{task_id}", headers=account.headers), 204)


def unshare(http: httpx.Client, owner: Account, task_id: int, username: str) -> None:
    ok(http.delete(f"/tasks/{task_id}/share/{username}", headers=owner.headers), 204)


def assert_not_found(http: httpx.Client, account: Account, task_id: int) -> None:
    assert_status_body(http.get(f"/activity/tasks/{task_id}", headers=account.headers), 404, 5)


def own(entries: list[dict[str, Any]], account: Account) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry["user_id"] == account.id]


# -- one entry per action, with its details --------------------------------------------------
def test_each_task_action_is_one_entry_with_its_details(http, account, since) -> None:
    friend = new_user(http)
    task = create_task(
        http,
        account,
        title="Buy milk",
        description="two litres",
        priority="low",
        due_date="2030-12-01",
        tags=["home"],
    )
    tid = task["id"]
    patch_task(http, account, tid, {"title": "Buy oat milk", "priority": "high", "due_date": None})
    patch_task(http, account, tid, {"completed": True})
    ok(http.post(f"/tasks/{tid}/tags", json=["shop", "home", "errand"], headers=account.headers))
    ok(http.delete(f"/tasks/{tid}/tags/home", headers=account.headers))
    shared = share_task(http, account, tid, friend.username, "view")
    path = f"/tasks/{tid}/share/{friend.username}"
    changed_share = ok(http.put(path, json={"permission": "edit"}, headers=account.headers))
    unshare(http, account, tid, friend.username)
    last = get_task(http, account, tid)
    before_delete = timeline(http, account, tid)
    delete_task(http, account, tid)

    entries = settled_history(http, account, 9)
    assert summary(entries) == [
        (action, "task", tid, account.id)
        for action in (
            "deleted",
            "unshared",
            "updated",
            "shared",
            "updated",
            "updated",
            "updated",
            "updated",
            "created",
        )
    ]
    assert_newest_first(entries)
    (deleted, unshared, permission, share, untag, tag, complete, update, created) = entries

    def check(entry: dict[str, Any], action: str, details: dict[str, Any]) -> None:
        assert_entry(entry, action, "task", tid, account, details, since)

    check(created, "created", {"task": task_snapshot(task)} | task_fields(task))
    check(
        update,
        "updated",
        changed(
            {
                "title": {"old": "Buy milk", "new": "Buy oat milk"},
                "priority": {"old": "low", "new": "high"},
                "due_date": {"old": "2030-12-01", "new": None},
            }
        ),
    )
    check(complete, "updated", changed({"completed": {"old": False, "new": True}}))
    check(
        tag,
        "updated",
        changed({"tags": {"old": ["home"], "new": ["errand", "home", "shop"]}})
        | {"added": ["errand", "shop"]},
    )
    check(
        untag,
        "updated",
        changed({"tags": {"old": ["errand", "home", "shop"], "new": ["errand", "shop"]}})
        | {"removed": "home"},
    )
    as_shared = {"shared_with_username": friend.username}
    check(share, "shared", {"share": shared, "permission": "view"} | as_shared)
    assert share["details"]["share"]["permission"] == "view"
    permission_change = changed({"permission": {"old": "view", "new": "edit"}})
    check(
        permission,
        "updated",
        permission_change
        | {"share": changed_share, "permission": "edit", "old_permission": "view", "new_permission": "edit"}
        | as_shared,
    )
    check(unshared, "unshared", {"share": changed_share, "permission": "edit"} | as_shared)
    assert unshared["details"]["share"]["shared_with_user_id"] == friend.id
    check(deleted, "deleted", {"task": task_snapshot(last)} | task_fields(last))
    assert deleted["details"]["title"] == deleted["details"]["task"]["title"] == "Buy oat milk"
    assert deleted["details"]["completed"] is deleted["details"]["task"]["completed"] is True

    # The owner's timeline of the task was the same list, oldest first; once deleted it is gone.
    assert before_delete == entries[:0:-1]
    assert_not_found(http, account, tid)


def test_comment_actions_are_comment_entries_that_name_their_task(http, account, since) -> None:
    task = create_task(http, account)
    tid = task["id"]
    comment = create_comment(http, account, tid, "first words")
    edited = ok(edit_comment(http, account, comment["id"], "second thoughts", task_id=tid))
    ok(remove_comment(http, account, comment["id"]), 204)  # the alias /comments/{id}

    entries = settled_history(http, account, 4)
    cid = comment["id"]
    assert summary(entries) == [
        ("deleted", "comment", cid, account.id),
        ("updated", "comment", cid, account.id),
        ("created", "comment", cid, account.id),
        ("created", "task", tid, account.id),
    ]
    assert_newest_first(entries)
    deleted, updated, created, _ = entries
    details = {"task_id": tid, "comment": comment, "content": "first words"}
    assert_entry(created, "created", "comment", cid, account, details, since)
    edit = changed({"content": {"old": "first words", "new": "second thoughts"}})
    details = {"task_id": tid, "content": "second thoughts", "old_content": "first words"}
    details |= {"new_content": "second thoughts"} | edit
    assert_entry(updated, "updated", "comment", cid, account, details, since)
    details = {"task_id": tid, "comment": edited, "content": "second thoughts"}
    assert_entry(deleted, "deleted", "comment", cid, account, details, since)
    assert "updated_at" in deleted["details"]["comment"]
    assert timeline(http, account, tid) == entries[::-1]


def test_bulk_update_is_one_updated_entry_per_changed_task(http, account, since) -> None:
    low = create_task(http, account, priority="low")
    done = create_task(http, account, priority="low", completed=True)
    same = create_task(http, account, priority="high", completed=True)  # the patch changes nothing
    ids = [low["id"], done["id"], same["id"]]
    ok(bulk_update(http, account, ids, {"priority": "high", "completed": True}))
    marker = create_task(http, account)  # its entry comes after every entry of the bulk update

    entries = settled_history(http, account, 6)
    assert_newest_first(entries)
    assert summary(entries[:1]) == [("created", "task", marker["id"], account.id)]
    # The bulk update's entries share one moment: their order between them is not contracted.
    assert sorted(summary(entries[1:3])) == sorted(
        [("updated", "task", low["id"], account.id), ("updated", "task", done["id"], account.id)]
    )
    assert summary(entries[3:]) == [
        ("created", "task", same["id"], account.id),
        ("created", "task", done["id"], account.id),
        ("created", "task", low["id"], account.id),
    ]
    updates = {entry["resource_id"]: entry for entry in entries[1:3]}
    priority = {"old": "low", "new": "high"}
    assert_entry(
        updates[low["id"]],
        "updated",
        "task",
        low["id"],
        account,
        changed({"completed": {"old": False, "new": True}, "priority": priority}),
        since,
    )
    assert_entry(
        updates[done["id"]],
        "updated",
        "task",
        done["id"],
        account,
        changed({"priority": priority}),
        since,
    )
    assert summary(timeline(http, account, same["id"])) == [("created", "task", same["id"], account.id)]


def test_every_event_is_exactly_one_entry(http, account) -> None:
    """N actions, N entries: in the history, in the timeline and in the stats."""
    friend = new_account(http)
    task = create_task(http, account)
    tid = task["id"]
    share_task(http, account, tid, friend.username, "edit")
    actions = 2
    for n in range(5):
        patch_task(http, account, tid, {"title": f"take {n}"})
        comment = create_comment(http, account, tid)
        ok(edit_comment(http, account, comment["id"], f"edited {n}", task_id=tid))
        create_comment(http, friend, tid)
        actions += 3
    ok(http.post(f"/tasks/{tid}/tags", json=["last"], headers=account.headers))
    actions += 1

    entries = settled_history(http, account, actions)
    assert len(entries) == actions
    assert_newest_first(entries)
    assert entries[0]["details"].get("added") == ["last"]
    tl = timeline(http, account, tid)
    assert len(tl) == actions + 5  # and the friend's five comments
    assert_oldest_first(tl)
    assert own(tl, account) == entries[::-1]
    assert get_stats(http, account)["total_activities"] == actions
    assert len(settled_history(http, friend, 5)) == 5


def test_a_redelivered_event_has_no_second_effect(http, account, stack) -> None:
    """The stream entries of a task are added again, as a crash before the ack or a republished
    outbox window would deliver them: the log and the access rules do not change."""
    from redis import Redis

    friend = new_account(http)
    task = create_task(http, account)
    tid = task["id"]
    share_task(http, account, tid, friend.username, "view")
    comment = create_comment(http, friend, tid)
    unshare(http, account, tid, friend.username)
    before = settled_timeline(http, account, tid, 4)
    assert [e["action"] for e in before] == ["created", "shared", "created", "unshared"]
    assert_not_found(http, friend, tid)

    task_events(stack.redis_url, tid, until=lambda events: len(events) >= 4)
    reader = StreamReader.of(stack.redis_url, TASK_EVENTS_STREAM)
    mine = [e.entry_id for e in reader.read() if e.envelope.HasField("task_id") and e.envelope.task_id == tid]
    assert len(mine) == 4
    redis = Redis.from_url(stack.redis_url, socket_timeout=5)
    try:
        for entry_id in mine:  # the task.shared again, after its task.unshared, among them
            [(_, fields)] = redis.xrange(TASK_EVENTS_STREAM, min=entry_id, max=entry_id)
            redis.xadd(TASK_EVENTS_STREAM, fields)
    finally:
        redis.close()
    # A marker after the repeats: once its entry is there, the repeats were consumed.
    ok(http.post(f"/tasks/{tid}/tags", json=["marker"], headers=account.headers))
    after = settled_timeline(http, account, tid, 5)
    assert after[:-1] == before
    assert after[-1]["details"]["added"] == ["marker"]
    assert len(after) == 5
    assert_not_found(http, friend, tid)  # the repeated share gave no access back
    assert summary(history(http, friend)) == [("created", "comment", comment["id"], friend.id)]
    assert get_stats(http, account)["total_activities"] == 4


# -- GET /activity: only the caller's own actions, filters, dates -----------------------------
@pytest.fixture(scope="module")
def varied(http) -> tuple[Account, list[dict[str, Any]]]:
    """A user with a settled history of every kind of task and comment action (read-only)."""
    user = new_account(http)
    friend = new_user(http)
    a = create_task(http, user)
    comment = create_comment(http, user, a["id"])
    ok(edit_comment(http, user, comment["id"], "changed", task_id=a["id"]))
    share_task(http, user, a["id"], friend.username)
    patch_task(http, user, a["id"], {"priority": "high"})
    b = create_task(http, user)
    delete_task(http, user, b["id"])
    ok(remove_comment(http, user, comment["id"], task_id=a["id"]), 204)
    unshare(http, user, a["id"], friend.username)
    entries = settled_history(http, user, 9)
    assert [(e["action"], e["resource_type"]) for e in entries] == [
        ("unshared", "task"),
        ("deleted", "comment"),
        ("deleted", "task"),
        ("created", "task"),
        ("updated", "task"),
        ("shared", "task"),
        ("updated", "comment"),
        ("created", "comment"),
        ("created", "task"),
    ]
    return user, entries


FILTERS = [
    {"resource_type": "task"},
    {"resource_type": "comment"},
    {"resource_type": "file"},
    {"action": "created"},
    {"action": "updated"},
    {"action": "deleted"},
    {"action": "shared"},
    {"action": "unshared"},
    {"action": "uploaded"},
    {"resource_type": "task", "action": "deleted"},
    {"resource_type": "comment", "action": "updated"},
    {"resource_type": "comment", "action": "shared"},
]


@pytest.mark.parametrize("query", FILTERS, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()))
def test_filters_by_resource_type_and_action(http, varied, query) -> None:
    user, entries = varied
    want = [e for e in entries if all(e[key] == value for key, value in query.items())]
    assert history(http, user, **query) == want
    assert history(http, user, **query, limit=1) == want[:1]
    assert history(http, user, **query, offset=1) == want[1:]


def test_date_filters_are_inclusive_utc_days(http, varied) -> None:
    user, entries = varied
    days = sorted({when(e["created_at"]).date() for e in entries})  # usually one day: today (UTC)
    first, last = days[0], days[-1]

    def on(start: date | None, end: date | None, **more: Any) -> list[dict[str, Any]]:
        params: dict[str, Any] = dict(more)
        if start is not None:
            params["start_date"] = start.isoformat()
        if end is not None:
            params["end_date"] = end.isoformat()
        return history(http, user, **params)

    for day in days:
        assert on(day, day) == [e for e in entries if when(e["created_at"]).date() == day]
    assert on(first, last) == entries
    assert on(first, None) == entries
    assert on(None, last) == entries
    assert on(first - timedelta(days=30), last + timedelta(days=30)) == entries
    assert on(first, last, resource_type="comment") == [e for e in entries if e["resource_type"] == "comment"]
    assert on(date(2020, 1, 1), date(2020, 12, 31)) == []  # a range in the past
    assert on(None, first - timedelta(days=1)) == []
    assert on(last + timedelta(days=1), None) == []
    assert on(last + timedelta(days=1), last + timedelta(days=1)) == []


def test_history_shows_only_the_callers_own_actions(http, since) -> None:
    owner, editor, viewer = new_account(http), new_account(http), new_account(http)
    task = create_task(http, owner)
    tid = task["id"]
    share_task(http, owner, tid, editor.username, "edit")
    share_task(http, owner, tid, viewer.username, "view")
    patch_task(http, editor, tid, {"description": "by the editor"})
    by_viewer = create_comment(http, viewer, tid)
    by_editor = create_comment(http, editor, tid)
    by_owner = create_comment(http, owner, tid)

    tl = settled_timeline(http, owner, tid, 7)
    assert_oldest_first(tl)
    assert summary(tl) == [
        ("created", "task", tid, owner.id),
        ("shared", "task", tid, owner.id),
        ("shared", "task", tid, owner.id),
        ("updated", "task", tid, editor.id),
        ("created", "comment", by_viewer["id"], viewer.id),
        ("created", "comment", by_editor["id"], editor.id),
        ("created", "comment", by_owner["id"], owner.id),
    ]
    assert history(http, owner) == own(tl, owner)[::-1]
    assert history(http, editor) == own(tl, editor)[::-1]
    assert history(http, viewer) == own(tl, viewer)[::-1]
    [comment] = history(http, viewer)
    details = {"task_id": tid, "comment": by_viewer, "content": by_viewer["content"]}
    assert_entry(comment, "created", "comment", by_viewer["id"], viewer, details, since)
    assert history(http, viewer, resource_type="task") == []
    assert get_stats(http, owner)["total_activities"] == 4
    assert get_stats(http, viewer) == {
        "total_activities": 1,
        "by_action": {"created": 1},
        "by_resource": {"comment": 1},
    }


# -- limit and offset --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def long_history(http) -> tuple[Account, list[dict[str, Any]]]:
    """A user with 52 entries: 26 tasks created, then one bulk update of all of them."""
    user = new_account(http)
    tasks = [create_task(http, user) for _ in range(26)]
    ok(bulk_update(http, user, [task["id"] for task in tasks], {"priority": "high"}))
    entries = settled_history(http, user, 52)
    assert len(entries) == 52
    assert_newest_first(entries)
    assert [e["action"] for e in entries] == ["updated"] * 26 + ["created"] * 26
    return user, entries


def test_limit_and_offset_page_through_the_history(http, long_history) -> None:
    user, entries = long_history
    assert history(http, user) == entries[:50]  # the default limit
    assert history(http, user, offset=50) == entries[50:]
    assert history(http, user, limit=1) == entries[:1]
    assert history(http, user, limit=100, offset=1) == entries[1:]
    pages = [history(http, user, limit=7, offset=offset) for offset in range(0, 56, 7)]
    assert [len(page) for page in pages] == [7] * 7 + [3]
    assert [e for page in pages for e in page] == entries
    assert history(http, user, offset=52) == []
    assert history(http, user, offset=100_000) == []
    assert history(http, user, action="updated", limit=10, offset=20) == entries[20:26]


@pytest.fixture(scope="module")
def reader(http) -> Account:
    """A user who only reads (no entries of its own)."""
    return new_account(http)


INVALID_QUERIES = [
    ("limit=0", ["limit"]),
    ("limit=101", ["limit"]),
    ("limit=-1", ["limit"]),
    ("offset=-1", ["offset"]),
    ("offset=100001", ["offset"]),
    ("start_date=2026-13-01", ["start_date"]),
    ("end_date=2026-02-30", ["end_date"]),
    ("start_date=yesterday", ["start_date"]),
    ("start_date=2026-1-5", ["start_date"]),
    ("start_date=20260105", ["start_date"]),
    ("end_date=2026-01-05T24:00:00Z", ["end_date"]),  # a date-time, but no such time
    ("start_date=2026-W02-1", ["start_date"]),  # an ISO week date, not YYYY-MM-DD
    ("start_date=2026-05-02&end_date=2026-05-01", ["end_date"]),
    ("resource_type=project", ["resource_type"]),
    ("resource_type=Task", ["resource_type"]),
    ("action=archived", ["action"]),
    ("action=completed", ["action"]),
    ("limit=0&offset=-1&action=x&resource_type=y", ["limit", "offset", "action", "resource_type"]),
]


@pytest.mark.parametrize("query, fields", [pytest.param(q, f, id=q) for q, f in INVALID_QUERIES])
def test_invalid_queries_are_400_naming_the_field(http, reader, query, fields) -> None:
    assert_bad_request(http.get(f"/activity?{query}", headers=reader.headers), *fields)


def test_bounds_of_limit_and_offset_are_accepted(http, reader) -> None:
    for query in (
        "limit=1",
        "limit=100",
        "offset=0",
        "offset=100000",
        "start_date=2026-05-01&end_date=2026-05-01",
    ):
        response = http.get(f"/activity?{query}", headers=reader.headers)
        assert response.status_code == 200, (query, response.text)
        assert response.json() == [], query


# -- timelines ---------------------------------------------------------------------------------
def test_the_timeline_shows_the_task_and_its_comments_to_the_owner_and_its_sharees(http) -> None:
    owner, viewer, editor, stranger = (new_account(http) for _ in range(4))
    other = create_task(http, owner)  # another task of the owner: not in this timeline
    create_comment(http, owner, other["id"])
    task = create_task(http, owner)
    tid = task["id"]
    share_task(http, owner, tid, viewer.username, "view")
    share_task(http, owner, tid, editor.username, "edit")
    patch_task(http, editor, tid, {"title": "the editor's title"})
    c1 = create_comment(http, editor, tid)
    c2 = create_comment(http, viewer, tid)
    ok(edit_comment(http, viewer, c2["id"], "the viewer thinks again", task_id=tid))
    c3 = create_comment(http, owner, tid)
    ok(http.post(f"/tasks/{tid}/tags", json=["team"], headers=editor.headers))

    tl = settled_timeline(http, owner, tid, 9)
    assert summary(tl) == [
        ("created", "task", tid, owner.id),
        ("shared", "task", tid, owner.id),
        ("shared", "task", tid, owner.id),
        ("updated", "task", tid, editor.id),
        ("created", "comment", c1["id"], editor.id),
        ("created", "comment", c2["id"], viewer.id),
        ("updated", "comment", c2["id"], viewer.id),
        ("created", "comment", c3["id"], owner.id),
        ("updated", "task", tid, editor.id),
    ]
    assert_oldest_first(tl)
    for entry in tl:
        username = {owner.id: owner.username, viewer.id: viewer.username, editor.id: editor.username}
        assert entry["username"] == username[entry["user_id"]], entry
        if entry["resource_type"] == "comment":
            assert entry["details"]["task_id"] == tid, entry
    assert timeline(http, viewer, tid) == tl
    assert timeline(http, editor, tid) == tl
    assert_not_found(http, stranger, tid)
    assert summary(timeline(http, owner, other["id"]))[0] == ("created", "task", other["id"], owner.id)
    assert len(timeline(http, owner, other["id"])) == 2
    assert_not_found(http, viewer, other["id"])


def test_a_revoked_sharee_gets_404_until_shared_again(http) -> None:
    owner, friend = new_account(http), new_account(http)
    tid = create_task(http, owner)["id"]
    share_task(http, owner, tid, friend.username, "view")
    settled_timeline(http, owner, tid, 2)
    comment = create_comment(http, friend, tid)
    assert len(settled_timeline(http, friend, tid, 3)) == 3

    unshare(http, owner, tid, friend.username)
    tl = settled_timeline(http, owner, tid, 4)
    assert tl[-1]["action"] == "unshared"
    assert_not_found(http, friend, tid)
    # The former sharee's own actions stay in its own history.
    assert summary(history(http, friend)) == [("created", "comment", comment["id"], friend.id)]

    share_task(http, owner, tid, friend.username, "edit")
    tl = settled_timeline(http, owner, tid, 5)
    assert [e["action"] for e in tl] == ["created", "shared", "created", "unshared", "shared"]
    assert timeline(http, friend, tid) == tl


def test_after_a_delete_nobody_reads_the_timeline(http) -> None:
    owner, editor, viewer, stranger = (new_account(http) for _ in range(4))
    tid = create_task(http, owner)["id"]
    share_task(http, owner, tid, editor.username, "edit")
    share_task(http, owner, tid, viewer.username, "view")
    comment = create_comment(http, editor, tid)
    before = settled_timeline(http, owner, tid, 4)
    assert timeline(http, viewer, tid) == before

    delete_task(http, owner, tid)
    for who in (owner, editor, viewer, stranger):  # as for the task itself
        assert_not_found(http, who, tid)
    # The delete, and everyone's own actions, stay in their own histories.
    assert summary(history(http, owner, limit=1)) == [("deleted", "task", tid, owner.id)]
    assert summary(history(http, editor)) == [("created", "comment", comment["id"], editor.id)]


def test_the_timeline_of_a_task_that_never_existed_is_404(http, reader) -> None:
    assert_not_found(http, reader, MISSING_ID)
    body = assert_status_body(http.get(f"/activity/tasks/{MISSING_ID}", headers=reader.headers), 404, 5)
    stranger_body = assert_status_body(http.get("/activity/tasks/1", headers=reader.headers), 404, 5)
    # A stranger learns nothing more about a task that exists than about one that does not.
    assert body["details"] == stranger_body["details"]


# -- stats ---------------------------------------------------------------------------------------
def test_stats_count_exactly_the_callers_actions(http, account) -> None:
    assert get_stats(http, account) == {"total_activities": 0, "by_action": {}, "by_resource": {}}
    friend = new_account(http)
    t1, t2 = create_task(http, account), create_task(http, account)
    patch_task(http, account, t1["id"], {"completed": True})
    comment = create_comment(http, account, t1["id"])
    ok(edit_comment(http, account, comment["id"], "edited", task_id=t1["id"]))
    share_task(http, account, t1["id"], friend.username, "view")
    create_comment(http, friend, t1["id"])  # the friend's, not counted for the owner
    path = f"/tasks/{t1['id']}/share/{friend.username}"
    ok(http.put(path, json={"permission": "edit"}, headers=account.headers))
    unshare(http, account, t1["id"], friend.username)
    ok(remove_comment(http, account, comment["id"], task_id=t1["id"]), 204)
    delete_task(http, account, t2["id"])
    ok(http.post(f"/tasks/{t1['id']}/tags", json=["x"], headers=account.headers))

    entries = settled_history(http, account, 11)
    assert len(entries) == 11
    want = {
        "total_activities": 11,
        "by_action": {"created": 3, "updated": 4, "shared": 1, "unshared": 1, "deleted": 2},
        "by_resource": {"task": 8, "comment": 3},
    }
    assert get_stats(http, account) == want
    assert dict(Counter(e["action"] for e in entries)) == want["by_action"]
    assert dict(Counter(e["resource_type"] for e in entries)) == want["by_resource"]
    settled_history(http, friend, 1)
    assert get_stats(http, friend) == {
        "total_activities": 1,
        "by_action": {"created": 1},
        "by_resource": {"comment": 1},
    }


# -- authentication ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/activity", "/activity/tasks/1", "/activity/stats"])
def test_no_token_is_401(http, path) -> None:
    assert_status_body(http.get(path), 401, 16)
    assert_status_body(http.get(path, headers={"Authorization": "Bearer not-a-token"}), 401, 16)


# -- native gRPC through Envoy: page tokens ------------------------------------------------------
@pytest.fixture(scope="module")
def stub(gateway_channel) -> activity_pb2_grpc.ActivityServiceStub:
    return activity_pb2_grpc.ActivityServiceStub(gateway_channel)


def as_json(entry: activity_pb2.ActivityEntry) -> tuple[int, str, str, int, int]:
    return (entry.id, entry.action, entry.resource_type, entry.resource_id, entry.user_id)


def of_json(entry: dict[str, Any]) -> tuple[int, str, str, int, int]:
    return (entry["id"], entry["action"], entry["resource_type"], entry["resource_id"], entry["user_id"])


def walk(
    stub: activity_pb2_grpc.ActivityServiceStub,
    account: Account,
    between: Callable[[int], None] | None = None,
    **request: Any,
) -> list[activity_pb2.ListActivityResponse]:
    """The pages of ListActivity(**request), following next_page_token until it is empty."""
    pages: list[activity_pb2.ListActivityResponse] = []
    token = ""
    while True:
        page = stub.ListActivity(
            activity_pb2.ListActivityRequest(**request, page_token=token), metadata=bearer_metadata(account)
        )
        pages.append(page)
        token = page.next_page_token
        if not token:
            return pages
        assert len(pages) < 100, "next_page_token never ran out"
        if between is not None:
            between(len(pages))


def test_page_tokens_over_native_grpc(http, stub, account) -> None:
    tasks = [create_task(http, account) for _ in range(5)]
    ok(bulk_update(http, account, [task["id"] for task in tasks], {"completed": True}))
    entries = settled_history(http, account, 10)
    assert len(entries) == 10

    added: list[dict[str, Any]] = []

    def act(_: int) -> None:  # a new action between pages: newer, so no page shifts
        if not added:
            added.append(create_task(http, account))

    pages = walk(stub, account, act, limit=3)
    assert [len(page.entries) for page in pages] == [3, 3, 3, 1]
    assert [as_json(e) for page in pages for e in page.entries] == [of_json(e) for e in entries]
    assert all(page.next_page_token for page in pages[:-1])
    newest = settled_history(http, account, 11)
    assert summary(newest[:1]) == [("created", "task", added[0]["id"], account.id)]
    assert newest[1:] == entries

    # JSON and gRPC agree on an entry, details included.
    [first] = stub.ListActivity(
        activity_pb2.ListActivityRequest(limit=1), metadata=bearer_metadata(account)
    ).entries
    assert first.username == account.username
    assert first.details["task"]["id"] == added[0]["id"]
    assert first.created_at.ToDatetime(tzinfo=UTC) == when(newest[0]["created_at"])

    # With filters: the token keeps them.
    pages = walk(stub, account, action="updated", limit=2)
    assert [len(page.entries) for page in pages] == [2, 2, 1]
    assert [as_json(e) for page in pages for e in page.entries] == [
        of_json(e) for e in entries if e["action"] == "updated"
    ]
    # A page that ends exactly at the last entry has no token; offset is ignored with a token.
    [only] = walk(stub, account, limit=11)
    assert len(only.entries) == 11 and only.next_page_token == ""
    token = stub.ListActivity(activity_pb2.ListActivityRequest(limit=4), metadata=bearer_metadata(account))
    with_offset = stub.ListActivity(
        activity_pb2.ListActivityRequest(limit=4, offset=7, page_token=token.next_page_token),
        metadata=bearer_metadata(account),
    )
    assert [as_json(e) for e in with_offset.entries] == [of_json(e) for e in newest[4:8]]

    # A token is bound to its filters and its user.
    def refused(request: activity_pb2.ListActivityRequest, who: Account = account) -> set[str]:
        error = rpc_error(lambda: stub.ListActivity(request, metadata=bearer_metadata(who)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        return violated_fields(error)

    other_filters = activity_pb2.ListActivityRequest(action="created", page_token=token.next_page_token)
    assert refused(other_filters) == {"page_token"}
    stranger = new_account(http)
    assert refused(activity_pb2.ListActivityRequest(limit=4, page_token=token.next_page_token), stranger) == {
        "page_token"
    }
    assert refused(activity_pb2.ListActivityRequest(page_token="not-a-token")) == {"page_token"}
    assert refused(activity_pb2.ListActivityRequest(limit=0)) == {"limit"}


def test_timeline_pages_over_native_grpc(http, stub, account) -> None:
    friend = new_account(http)
    task = create_task(http, account)
    tid = task["id"]
    share_task(http, account, tid, friend.username, "edit")
    for n in range(3):
        create_comment(http, friend, tid, f"comment {n}")
    patch_task(http, account, tid, {"title": "final"})
    tl = settled_timeline(http, account, tid, 6)
    assert len(tl) == 6

    def page(token: str, size: int = 4, who: Account = account) -> activity_pb2.GetTaskTimelineResponse:
        request = activity_pb2.GetTaskTimelineRequest(task_id=tid, page_size=size, page_token=token)
        return stub.GetTaskTimeline(request, metadata=bearer_metadata(who))

    first = page("")
    second = page(first.next_page_token)
    assert first.next_page_token and not second.next_page_token
    assert [as_json(e) for e in [*first.entries, *second.entries]] == [of_json(e) for e in tl]
    whole = page("", 0, friend)
    assert [as_json(e) for e in whole.entries] == [of_json(e) for e in tl] and not whole.next_page_token

    other = create_task(http, account)
    settled_timeline(http, account, other["id"], 1)
    error = rpc_error(
        lambda: stub.GetTaskTimeline(
            activity_pb2.GetTaskTimelineRequest(
                task_id=other["id"], page_size=4, page_token=first.next_page_token
            ),
            metadata=bearer_metadata(account),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and violated_fields(error) == {"page_token"}
    error = rpc_error(lambda: page("", 1001))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and violated_fields(error) == {"page_size"}
    stranger = new_account(http)
    assert rpc_error(lambda: page("", 4, stranger)).code() == grpc.StatusCode.NOT_FOUND


def test_native_grpc_without_a_token_is_unauthenticated(stub) -> None:
    calls = [
        lambda: stub.ListActivity(activity_pb2.ListActivityRequest()),
        lambda: stub.GetTaskTimeline(activity_pb2.GetTaskTimelineRequest(task_id=1)),
        lambda: stub.GetActivityStats(activity_pb2.GetActivityStatsRequest()),
    ]
    for call in calls:
        assert rpc_error(call).code() == grpc.StatusCode.UNAUTHENTICATED


def test_stats_over_native_grpc_match_json(http, stub, account) -> None:
    task = create_task(http, account)
    create_comment(http, account, task["id"])
    settled_history(http, account, 2)
    stats = stub.GetActivityStats(activity_pb2.GetActivityStatsRequest(), metadata=bearer_metadata(account))
    assert (stats.total_activities, dict(stats.by_action), dict(stats.by_resource)) == (
        2,
        {"created": 2},
        {"task": 1, "comment": 1},
    )
    assert get_stats(http, account) == {
        "total_activities": 2,
        "by_action": {"created": 2},
        "by_resource": {"task": 1, "comment": 1},
    }


# -- input that must be a 400, not a 500 -------------------------------------------------------
def test_the_last_representable_day_is_not_a_500(http, reader) -> None:
    """end_date=9999-12-31 (inclusive: up to the next midnight, which is out of range): either
    answered ([] for this reader) or refused naming end_date, like the tasks service's extreme
    dates; never an internal error."""
    for query in ("end_date=9999-12-31", "start_date=0001-01-01&end_date=9999-12-31"):
        response = http.get(f"/activity?{query}", headers=reader.headers)
        if response.status_code == 200:
            assert response.json() == [], query
        else:
            assert_bad_request(response, "end_date")
    assert history(http, reader, start_date="0001-01-01") == []
    assert history(http, reader, start_date="9999-12-31") == []


def token_of(values: Any) -> str:
    """A page token as the services spelled them before tokens had a tag (base64url of a JSON list)."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def forgeries(stack: Any, scope: tuple[str | int, ...], real: str) -> dict[str, str]:
    """Page tokens that keep a real token's filter binding but carry values it never made: made
    with the stack's key (so the service reads them, and must still refuse them), and without."""
    tokens = stack_page_tokens(stack)
    bound, created_at, entry_id = tokens.read(scope, real, 3)

    def made(values: Any) -> str:
        return tokens.make(scope, values)

    return {
        "id-infinity": made([bound, created_at, float("inf")]),
        "id-nan": made([bound, created_at, float("nan")]),
        "id-null": made([bound, created_at, None]),
        "id-word": made([bound, created_at, "seven"]),
        "time-number": made([bound, 12345, entry_id]),
        "time-word": made([bound, "yesterday", entry_id]),
        "time-nul": made([bound, created_at + "\u0000", entry_id]),
        "time-naive": made([bound, created_at[:19], entry_id]),
        "short": made([bound, created_at]),
        "object": made({"bound": bound}),
        "other-filters": made(["0" * 16, created_at, entry_id]),
        "no-tag": token_of([bound, created_at, entry_id]),
        "not-base64": "%%%",
    }


def test_forged_page_tokens_are_400(http, stack, stub, account) -> None:
    tid = create_task(http, account)["id"]
    patch_task(http, account, tid, {"title": "again"})
    settled_history(http, account, 2)
    real = stub.ListActivity(
        activity_pb2.ListActivityRequest(limit=1), metadata=bearer_metadata(account)
    ).next_page_token
    timeline_real = stub.GetTaskTimeline(
        activity_pb2.GetTaskTimelineRequest(task_id=tid, page_size=1), metadata=bearer_metadata(account)
    ).next_page_token
    assert real and timeline_real
    answers = {}
    for path, scope, real_token in (
        ("/activity", ("ListActivity", account.id), real),
        (f"/activity/tasks/{tid}", ("GetTaskTimeline", account.id, tid), timeline_real),
    ):
        size = "limit" if path == "/activity" else "page_size"
        for name, token in forgeries(stack, scope, real_token).items():
            response = http.get(path, params={size: 1, "page_token": token}, headers=account.headers)
            answers[f"{path} {name}"] = response
    assert {key: r.status_code for key, r in answers.items() if r.status_code != 400} == {}
    for response in answers.values():
        assert_bad_request(response, "page_token")


# -- file entries --------------------------------------------------------------------------------
def file_snapshot(file: dict[str, Any], uploader: Account) -> dict[str, Any]:
    """A File JSON of the API as the activity log's snapshot of it."""
    return {**file, "uploaded_by_user_id": uploader.id}


def file_details(task_id: int, snapshot: dict[str, Any]) -> dict[str, Any]:
    """A file entry's details: the original's keys, and the snapshot beside them."""
    original = {"filename": snapshot["original_filename"], "file_size": snapshot["file_size"]}
    return {"task_id": task_id, "file": snapshot, "content_type": snapshot.get("content_type")} | original


def test_file_uploads_and_deletions_are_file_entries_of_the_task(http, account, since) -> None:
    friend = new_account(http)
    task = create_task(http, account, title="with attachments")
    tid = task["id"]
    share_task(http, account, tid, friend.username, "edit")
    notes = uploaded_file(
        upload_multipart(http, friend, tid, file_bytes(".txt", 100), "notes.txt", "text/plain")
    )
    report = uploaded_file(
        upload_multipart(http, account, tid, file_bytes(".pdf", 2000), "report.pdf", "application/pdf")
    )
    ok(http.delete(f"/files/{notes['id']}", headers=account.headers), 204)

    tl = settled_timeline(http, account, tid, 5)
    assert summary(tl) == [
        ("created", "task", tid, account.id),
        ("shared", "task", tid, account.id),
        ("uploaded", "file", notes["id"], friend.id),
        ("uploaded", "file", report["id"], account.id),
        ("deleted", "file", notes["id"], account.id),
    ]
    assert_oldest_first(tl)
    by_friend, by_owner, removed = tl[2:]
    notes_json = file_snapshot(notes, friend)
    assert_entry(by_friend, "uploaded", "file", notes["id"], friend, file_details(tid, notes_json), since)
    report_json = file_snapshot(report, account)
    assert_entry(by_owner, "uploaded", "file", report["id"], account, file_details(tid, report_json), since)
    details = file_details(tid, notes_json) | {"cause": "request"}
    assert_entry(removed, "deleted", "file", notes["id"], account, details, since)
    assert timeline(http, friend, tid) == tl
    assert history(http, friend) == [by_friend]
    assert history(http, friend, resource_type="file", action="uploaded") == [by_friend]
    assert history(http, account, resource_type="file") == [removed, by_owner]
    assert get_stats(http, friend) == {
        "total_activities": 1,
        "by_action": {"uploaded": 1},
        "by_resource": {"file": 1},
    }

    # Deleting the task removes its remaining file: one more entry, by whoever deleted the task, in
    # that user's history (the timeline is gone with the task).
    delete_task(http, account, tid)
    after = settled_history(http, account, 6)  # polls: the files service removes the file later
    assert len(after) == 6
    assert after[2:] == own(tl, account)[::-1]
    assert_newest_first(after)
    assert summary(after[:2]) == [
        ("deleted", "file", report["id"], account.id),  # removed by the files service after the task
        ("deleted", "task", tid, account.id),
    ]
    assert_not_found(http, account, tid)
    details = file_details(tid, report_json) | {"cause": "task_deleted"}
    cascade = after[0]
    assert normal(cascade["details"]) == normal(details), cascade
    assert since <= when(cascade["created_at"]) <= datetime.now(UTC) + timedelta(seconds=1), cascade
    assert_not_found(http, friend, tid)
    assert history(http, account, resource_type="file") == [cascade, removed, by_owner]
    # Like every entry, it names the actor by username too.
    assert cascade.get("username") == account.username, cascade
