"""Events on Redis Streams, driven through the gateway as JSON/HTTP: every change of a task, its
tags, shares and comments publishes exactly one taskmanager.events.v1.EventEnvelope to
`events:tasks` (a registration one to `events:auth`), and a change that fails, is refused or
changes nothing publishes none.

"Exactly one" without sleeping: a task's events are published in order, so after the actions under
test each test adds a unique marker tag to the task and waits for its task.tags_added
(events_before_marker); every earlier event of that task is then in the stream and the test checks
the exact list. A deleted task takes no marker: the test waits for its task.deleted instead. The
streams are shared with the rest of the session, so events are always picked by task or user id.

Every test registers its own users (users who never call the API are registered without logging
in), so whatever else the database holds, it sees only its own tasks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import json_format

from support.accounts import Account, log_in, new_account, new_user, register, unique
from support.comments import add_comment, create_comment, edit_comment, remove_comment
from support.errors import assert_bad_request, assert_status_body
from support.events import (
    AUTH_EVENTS_STREAM,
    TASK_EVENTS_STREAM,
    StreamReader,
    event_types,
    events_before_marker,
    task_events,
    user_events,
)
from support.sharing import share, share_task
from support.tasks import bulk_update, create_task

MISSING_ID = 2_147_483_647  # the largest int32: no task has that id
# Each event type of the tasks service and the member of the payload oneof it sets.
PAYLOAD = {
    "task.created": "task_created",
    "task.updated": "task_updated",
    "task.completed": "task_completed",
    "task.deleted": "task_deleted",
    "task.tags_added": "tags_added",
    "task.tag_removed": "tag_removed",
    "task.shared": "task_shared",
    "task.share_permission_changed": "share_permission_changed",
    "task.unshared": "task_unshared",
    "comment.added": "comment_added",
    "comment.updated": "comment_updated",
    "comment.deleted": "comment_deleted",
}


# -- helpers ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_url(stack) -> str:
    return stack.redis_url


@pytest.fixture
def since() -> datetime:
    """A moment before the test's first request (a little earlier: clocks and rounding)."""
    return datetime.now(UTC) - timedelta(seconds=1)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def plain(value: Any) -> Any:
    """A google.protobuf.Value as the Python value it holds (None, str, bool, list)."""
    return json_format.MessageToDict(value)


def changes(payload: Any) -> dict[str, tuple[Any, Any]]:
    """The FieldChanges of a task.updated/task.completed payload as {field: (old, new)}; a field
    is listed once at most, and tag lists compare as sets (their order is not contracted)."""
    result: dict[str, tuple[Any, Any]] = {}
    for change in payload.changes:
        assert change.field not in result, payload
        old, new = plain(change.old_value), plain(change.new_value)
        if change.field == "tags":
            old, new = sorted(old), sorted(new)
        result[change.field] = (old, new)
    return result


def task_json(snapshot: Any) -> dict[str, Any]:
    """A TaskSnapshot as the Task JSON of the API (tags sorted, times as datetimes)."""
    task: dict[str, Any] = {
        "id": snapshot.id,
        "title": snapshot.title,
        "completed": snapshot.completed,
        "priority": snapshot.priority,
        "tags": sorted(snapshot.tags),
        "user_id": snapshot.user_id,
        "created_at": snapshot.created_at.ToDatetime(tzinfo=UTC),
    }
    if snapshot.HasField("description"):
        task["description"] = snapshot.description
    if snapshot.HasField("due_date"):
        task["due_date"] = snapshot.due_date
    if snapshot.HasField("updated_at"):
        task["updated_at"] = snapshot.updated_at.ToDatetime(tzinfo=UTC)
    return task


def comparable(task: dict[str, Any]) -> dict[str, Any]:
    """A Task JSON of the API in task_json's terms."""
    result = {key: value for key, value in task.items() if key != "permission"}
    result["tags"] = sorted(task["tags"])
    for key in ("created_at", "updated_at"):
        if key in result:
            result[key] = when(result[key])
    return result


def share_json(snapshot: Any) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "task_id": snapshot.task_id,
        "shared_with_user_id": snapshot.shared_with_user_id,
        "shared_with_username": snapshot.shared_with_username,
        "permission": snapshot.permission,
        "shared_at": snapshot.shared_at.ToDatetime(tzinfo=UTC),
    }


def comment_json(snapshot: Any) -> dict[str, Any]:
    comment = {
        "id": snapshot.id,
        "task_id": snapshot.task_id,
        "user_id": snapshot.user_id,
        "content": snapshot.content,
        "created_at": snapshot.created_at.ToDatetime(tzinfo=UTC),
    }
    if snapshot.HasField("updated_at"):
        comment["updated_at"] = snapshot.updated_at.ToDatetime(tzinfo=UTC)
    return comment


def with_times(resource: dict[str, Any]) -> dict[str, Any]:
    """A Share or Comment JSON with its times as datetimes."""
    return {
        key: when(value) if key in ("shared_at", "created_at", "updated_at") else value
        for key, value in resource.items()
    }


def assert_envelope(
    event: Any,
    event_type: str,
    *,
    actor: Account,
    task: dict[str, Any],
    audience: list[int],
    since: datetime,
    title: str | None = None,
) -> None:
    """The envelope of an event of the tasks service about `task` (whose title is `title` at the
    event, task["title"] unless given), caused by `actor`, seen by `audience`."""
    assert event.type == event_type, event
    assert event.WhichOneof("payload") == PAYLOAD[event_type], event
    assert uuid.UUID(event.event_id).version == 4, event.event_id
    assert since <= event.occurred_at.ToDatetime(tzinfo=UTC) <= datetime.now(UTC) + timedelta(seconds=1)
    assert (event.actor_user_id, event.actor_username) == (actor.id, actor.username), event
    assert event.HasField("task_id") and event.task_id == task["id"], event
    assert event.HasField("task_owner_user_id") and event.task_owner_user_id == task["user_id"], event
    assert event.HasField("task_title") and event.task_title == (title or task["title"]), event
    assert sorted(event.audience_user_ids) == sorted(set(audience)), event
    assert len(event.audience_user_ids) == len(set(event.audience_user_ids)), event
    assert event.schema_version == 1, event
    assert event.producer == "tasks", event


def assert_unique_ids(events: list[Any]) -> None:
    ids = [event.event_id for event in events]
    assert len(ids) == len(set(ids)), ids


# -- task.created ----------------------------------------------------------------------------
def test_create_publishes_task_created_with_the_snapshot(http, account, redis_url, since) -> None:
    task = create_task(
        http,
        account,
        title="Buy milk",
        description="two litres",
        priority="high",
        due_date="2030-12-01",
        tags=["home", "shop"],
    )
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created"]
    [created] = events
    assert_envelope(created, "task.created", actor=account, task=task, audience=[account.id], since=since)
    assert created.WhichOneof("payload") == "task_created"
    assert task_json(created.task_created.task) == comparable(task)


def test_create_with_the_defaults_leaves_optional_fields_unset(http, account, redis_url, since) -> None:
    task = create_task(http, account)
    [created] = events_before_marker(http, redis_url, account, task["id"])
    assert_envelope(created, "task.created", actor=account, task=task, audience=[account.id], since=since)
    snapshot = created.task_created.task
    assert not snapshot.HasField("description") and not snapshot.HasField("due_date")
    assert (snapshot.completed, snapshot.priority, list(snapshot.tags)) == (False, "medium", [])
    assert task_json(snapshot) == comparable(task)


def test_invalid_create_publishes_nothing(http, account, redis_url) -> None:
    title = unique("invalid")
    response = http.post("/tasks", json={"title": title, "priority": "urgent"}, headers=account.headers)
    assert_bad_request(response, "priority")
    task = create_task(http, account)  # a later task of the same user, settled
    events_before_marker(http, redis_url, account, task["id"])
    everything = StreamReader.of(redis_url, TASK_EVENTS_STREAM).read()
    assert [entry for entry in everything if entry.envelope.task_title == title] == []


# -- task.updated / task.completed -----------------------------------------------------------
def test_patch_publishes_one_task_updated_with_only_the_changed_fields(
    http, account, redis_url, since
) -> None:
    task = create_task(http, account, title="old", description="same", priority="low", tags=["a"])
    response = http.patch(
        f"/tasks/{task['id']}",
        json={"title": "new", "description": "same", "priority": "high", "due_date": "2031-01-02"},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created", "task.updated"]
    assert_unique_ids(events)
    event = events[1]
    assert_envelope(event, "task.updated", actor=account, task=updated, audience=[account.id], since=since)
    assert event.task_title == "new"
    assert changes(event.task_updated) == {
        "title": ("old", "new"),
        "priority": ("low", "high"),
        "due_date": (None, "2031-01-02"),
    }
    assert task_json(event.task_updated.task) == comparable(updated)


def test_patch_clearing_fields_and_changing_tags_lists_nulls_and_tag_lists(http, account, redis_url) -> None:
    task = create_task(http, account, description="gone soon", due_date="2030-05-05", tags=["a", "b"])
    response = http.patch(
        f"/tasks/{task['id']}",
        json={"description": None, "due_date": None, "tags": ["b", "c"]},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created", "task.updated"]
    assert changes(events[1].task_updated) == {
        "description": ("gone soon", None),
        "due_date": ("2030-05-05", None),
        "tags": (["a", "b"], ["b", "c"]),
    }
    snapshot = events[1].task_updated.task
    assert not snapshot.HasField("description") and not snapshot.HasField("due_date")
    assert task_json(snapshot) == comparable(response.json())


def test_completing_publishes_task_completed_instead_of_task_updated(http, account, redis_url, since) -> None:
    task = create_task(http, account, title="chore", priority="low")
    response = http.patch(
        f"/tasks/{task['id']}", json={"completed": True, "priority": "high"}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    completed = response.json()
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created", "task.completed"]
    event = events[1]
    assert_envelope(
        event, "task.completed", actor=account, task=completed, audience=[account.id], since=since
    )
    assert event.WhichOneof("payload") == "task_completed"
    assert changes(event.task_completed) == {"completed": (False, True), "priority": ("low", "high")}
    assert event.task_completed.task.completed is True
    assert task_json(event.task_completed.task) == comparable(completed)


def test_reopening_is_a_task_updated_and_completing_again_a_task_completed(http, account, redis_url) -> None:
    task = create_task(http, account, completed=True)
    for completed in (False, True):
        response = http.patch(f"/tasks/{task['id']}", json={"completed": completed}, headers=account.headers)
        assert response.status_code == 200, response.text
    # Already completed: a change of the title alone is an update, not a second completion.
    response = http.patch(f"/tasks/{task['id']}", json={"title": "renamed"}, headers=account.headers)
    assert response.status_code == 200, response.text
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created", "task.updated", "task.completed", "task.updated"]
    assert_unique_ids(events)
    assert changes(events[1].task_updated) == {"completed": (True, False)}
    assert changes(events[2].task_completed) == {"completed": (False, True)}
    assert changes(events[3].task_updated) == {"title": (task["title"], "renamed")}
    assert events[3].task_title == "renamed"


def test_a_patch_that_changes_nothing_publishes_nothing(http, account, redis_url) -> None:
    task = create_task(
        http, account, title="same", description="d", priority="high", due_date="2030-01-01", tags=["x", "y"]
    )
    for patch in (
        {"title": "same"},
        {"title": "same", "priority": "high", "completed": False},
        {"description": "d", "due_date": "2030-01-01"},
        {"tags": ["x", " y ", "x"]},  # the same tags once trimmed and deduplicated
    ):
        response = http.patch(f"/tasks/{task['id']}", json=patch, headers=account.headers)
        assert response.status_code == 200, (patch, response.text)
    assert event_types(events_before_marker(http, redis_url, account, task["id"])) == ["task.created"]


def test_completing_a_completed_task_publishes_nothing(http, account, redis_url) -> None:
    task = create_task(http, account, completed=True)
    response = http.patch(f"/tasks/{task['id']}", json={"completed": True}, headers=account.headers)
    assert response.status_code == 200, response.text
    assert event_types(events_before_marker(http, redis_url, account, task["id"])) == ["task.created"]


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"title": "changed", "priority": "urgent"}, "priority"),
        ({"completed": True, "due_date": "2026-13-01"}, "due_date"),
        ({"title": ""}, "title"),
    ],
    ids=["bad-priority", "bad-due-date", "empty-title"],
)
def test_an_invalid_patch_publishes_nothing(http, account, redis_url, patch, field) -> None:
    task = create_task(http, account)
    assert_bad_request(http.patch(f"/tasks/{task['id']}", json=patch, headers=account.headers), field)
    assert_bad_request(http.patch(f"/tasks/{task['id']}", json={}, headers=account.headers), "patch")
    assert event_types(events_before_marker(http, redis_url, account, task["id"])) == ["task.created"]


# -- PATCH /tasks/bulk -----------------------------------------------------------------------
def test_bulk_publishes_one_event_per_changed_task(http, account, redis_url, since) -> None:
    low = create_task(http, account, priority="low")
    done = create_task(http, account, priority="low", completed=True)
    already = create_task(http, account, priority="high", completed=True)  # the patch changes nothing
    owner = new_account(http)
    shared = create_task(http, owner, priority="low")
    share_task(http, owner, shared["id"], account.username, "edit")
    ids = [low["id"], done["id"], already["id"], shared["id"]]
    response = bulk_update(http, account, ids, {"priority": "high", "completed": True})
    assert response.status_code == 200, response.text
    answer = {task["id"]: task for task in response.json()}

    low_events = events_before_marker(http, redis_url, account, low["id"])
    assert event_types(low_events) == ["task.created", "task.completed"]
    event = low_events[1]
    assert_envelope(event, "task.completed", actor=account, task=low, audience=[account.id], since=since)
    assert changes(event.task_completed) == {"completed": (False, True), "priority": ("low", "high")}
    assert task_json(event.task_completed.task) == comparable(answer[low["id"]])

    done_events = events_before_marker(http, redis_url, account, done["id"])
    assert event_types(done_events) == ["task.created", "task.updated"]
    assert changes(done_events[1].task_updated) == {"priority": ("low", "high")}

    assert event_types(events_before_marker(http, redis_url, account, already["id"])) == ["task.created"]

    shared_events = events_before_marker(http, redis_url, owner, shared["id"])
    assert event_types(shared_events) == ["task.created", "task.shared", "task.completed"]
    event = shared_events[2]
    # An editor's change: the editor is the actor, the owner stays the task's owner.
    assert_envelope(
        event, "task.completed", actor=account, task=shared, audience=[owner.id, account.id], since=since
    )
    assert changes(event.task_completed) == {"completed": (False, True), "priority": ("low", "high")}
    assert_unique_ids(low_events + done_events + shared_events)


@pytest.mark.parametrize("refusal", ["view-only", "hidden", "missing"])
def test_a_refused_bulk_publishes_nothing_for_any_task_of_the_batch(
    http, account, redis_url, refusal
) -> None:
    own = [create_task(http, account, priority="low"), create_task(http, account, priority="low")]
    owner = new_account(http)
    editable, other = create_task(http, owner), create_task(http, owner)
    share_task(http, owner, editable["id"], account.username, "edit")
    if refusal == "view-only":
        share_task(http, owner, other["id"], account.username, "view")
    last = MISSING_ID if refusal == "missing" else other["id"]
    ids = [own[0]["id"], editable["id"], own[1]["id"], last]
    expected = (403, 7) if refusal == "view-only" else (404, 5)
    assert_status_body(bulk_update(http, account, ids, {"title": "changed", "completed": True}), *expected)
    for task in own:
        assert event_types(events_before_marker(http, redis_url, account, task["id"])) == ["task.created"]
    assert event_types(events_before_marker(http, redis_url, owner, editable["id"])) == [
        "task.created",
        "task.shared",
    ]
    other_events = events_before_marker(http, redis_url, owner, other["id"])
    assert event_types(other_events) == (
        ["task.created", "task.shared"] if refusal == "view-only" else ["task.created"]
    )


def test_an_invalid_bulk_publishes_nothing(http, account, redis_url) -> None:
    tasks = [create_task(http, account), create_task(http, account)]
    ids = [task["id"] for task in tasks]
    assert_bad_request(bulk_update(http, account, ids, {"completed": True, "priority": "urgent"}), "priority")
    for task in tasks:
        assert event_types(events_before_marker(http, redis_url, account, task["id"])) == ["task.created"]


# -- task.deleted ----------------------------------------------------------------------------
def test_delete_publishes_task_deleted_with_the_last_state_to_everyone_it_was_shared_with(
    http, account, redis_url, since
) -> None:
    task = create_task(http, account, title="doomed", tags=["t"], due_date="2030-02-02")
    viewer, editor = new_user(http), new_user(http)
    share_task(http, account, task["id"], viewer.username, "view")
    share_task(http, account, task["id"], editor.username, "edit")
    response = http.patch(f"/tasks/{task['id']}", json={"title": "last title"}, headers=account.headers)
    assert response.status_code == 200, response.text
    last = response.json()
    assert http.delete(f"/tasks/{task['id']}", headers=account.headers).status_code == 204
    events = task_events(redis_url, task["id"], until=lambda events: "task.deleted" in event_types(events))
    assert event_types(events) == [
        "task.created",
        "task.shared",
        "task.shared",
        "task.updated",
        "task.deleted",
    ]
    assert_unique_ids(events)
    deleted = events[-1]
    assert_envelope(
        deleted,
        "task.deleted",
        actor=account,
        task=last,
        audience=[account.id, viewer.id, editor.id],
        since=since,
    )
    assert deleted.task_title == "last title"
    assert task_json(deleted.task_deleted.task) == comparable(last)


def test_a_refused_delete_publishes_nothing(http, account, redis_url) -> None:
    task = create_task(http, account)
    editor, viewer, stranger = new_account(http), new_account(http), new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    share_task(http, account, task["id"], viewer.username, "view")
    assert_status_body(http.delete(f"/tasks/{task['id']}", headers=editor.headers), 403, 7)
    assert_status_body(http.delete(f"/tasks/{task['id']}", headers=viewer.headers), 403, 7)
    assert_status_body(http.delete(f"/tasks/{task['id']}", headers=stranger.headers), 404, 5)
    assert event_types(events_before_marker(http, redis_url, account, task["id"])) == [
        "task.created",
        "task.shared",
        "task.shared",
    ]


# -- task.tags_added / task.tag_removed ------------------------------------------------------
def test_add_tags_publishes_only_the_new_tags(http, account, redis_url, since) -> None:
    task = create_task(http, account, tags=["a"])
    response = http.post(f"/tasks/{task['id']}/tags", json=["b", "a", "c", "b"], headers=account.headers)
    assert response.status_code == 200, response.text
    tagged = response.json()
    # Only tags it already has: no change, no event.
    response = http.post(f"/tasks/{task['id']}/tags", json=["c", "a"], headers=account.headers)
    assert response.status_code == 200, response.text
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created", "task.tags_added"]
    event = events[1]
    assert_envelope(event, "task.tags_added", actor=account, task=task, audience=[account.id], since=since)
    assert sorted(event.tags_added.added) == ["b", "c"]
    assert len(event.tags_added.added) == 2
    assert list(event.tags_added.old_tags) == ["a"]
    assert sorted(event.tags_added.new_tags) == sorted(tagged["tags"]) == ["a", "b", "c"]


def test_remove_tag_publishes_task_tag_removed(http, account, redis_url, since) -> None:
    task = create_task(http, account, tags=["a", "b"])
    response = http.delete(f"/tasks/{task['id']}/tags/a", headers=account.headers)
    assert response.status_code == 200, response.text
    # A tag the task lacks: 404, no event.
    assert_status_body(http.delete(f"/tasks/{task['id']}/tags/zzz", headers=account.headers), 404, 5)
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created", "task.tag_removed"]
    event = events[1]
    assert_envelope(event, "task.tag_removed", actor=account, task=task, audience=[account.id], since=since)
    assert event.tag_removed.tag == "a"
    assert sorted(event.tag_removed.old_tags) == ["a", "b"]
    assert list(event.tag_removed.new_tags) == ["b"]


# -- task.shared / task.share_permission_changed / task.unshared -----------------------------
def test_share_publishes_task_shared_with_the_share(http, account, redis_url, since) -> None:
    task = create_task(http, account)
    viewer, editor = new_user(http), new_user(http)
    as_viewer = share_task(http, account, task["id"], viewer.username)
    as_editor = share_task(http, account, task["id"], editor.username, "edit")
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created", "task.shared", "task.shared"]
    assert_unique_ids(events)
    first, second = events[1], events[2]
    assert_envelope(
        first, "task.shared", actor=account, task=task, audience=[account.id, viewer.id], since=since
    )
    assert share_json(first.task_shared.share) == with_times(as_viewer)
    assert first.task_shared.share.permission == "view"
    assert_envelope(
        second,
        "task.shared",
        actor=account,
        task=task,
        audience=[account.id, viewer.id, editor.id],
        since=since,
    )
    assert share_json(second.task_shared.share) == with_times(as_editor)
    assert (second.task_shared.share.shared_with_username, second.task_shared.share.permission) == (
        editor.username,
        "edit",
    )


def test_a_refused_share_publishes_nothing(http, account, redis_url) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    share_task(http, account, task["id"], friend.username)
    assert_status_body(share(http, account, task["id"], unique("nobody")), 404, 5)  # unknown user
    assert_status_body(share(http, account, task["id"], account.username), 400, 3)  # oneself
    assert_status_body(share(http, account, task["id"], friend.username, "edit"), 409, 6)  # again
    assert_bad_request(share(http, account, task["id"], new_user(http).username, "admin"), "permission")
    stranger = new_account(http)
    assert_status_body(share(http, stranger, task["id"], new_user(http).username), 404, 5)
    assert event_types(events_before_marker(http, redis_url, account, task["id"])) == [
        "task.created",
        "task.shared",
    ]


def test_changing_a_permission_publishes_old_and_new(http, account, redis_url, since) -> None:
    task = create_task(http, account)
    friend = new_user(http)
    share_task(http, account, task["id"], friend.username, "view")
    path = f"/tasks/{task['id']}/share/{friend.username}"
    response = http.put(path, json={"permission": "edit"}, headers=account.headers)
    assert response.status_code == 200, response.text
    changed = response.json()
    # The permission it already has: no change, no event.
    response = http.put(path, json={"permission": "edit"}, headers=account.headers)
    assert response.status_code == 200, response.text
    response = http.put(path, json={"permission": "view"}, headers=account.headers)
    assert response.status_code == 200, response.text
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == [
        "task.created",
        "task.shared",
        "task.share_permission_changed",
        "task.share_permission_changed",
    ]
    assert_unique_ids(events)
    up, down = events[2], events[3]
    assert_envelope(
        up,
        "task.share_permission_changed",
        actor=account,
        task=task,
        audience=[account.id, friend.id],
        since=since,
    )
    payload = up.share_permission_changed
    assert (payload.old_permission, payload.new_permission) == ("view", "edit")
    assert share_json(payload.share) == with_times(changed)
    assert payload.share.permission == "edit"
    payload = down.share_permission_changed
    assert (payload.old_permission, payload.new_permission, payload.share.permission) == (
        "edit",
        "view",
        "view",
    )
    assert payload.share.shared_with_user_id == friend.id


def test_unshare_publishes_the_removed_share_to_the_removed_user_too(http, account, redis_url, since) -> None:
    task = create_task(http, account)
    friend, other = new_user(http), new_user(http)
    shared = share_task(http, account, task["id"], friend.username, "edit")
    share_task(http, account, task["id"], other.username, "view")
    path = f"/tasks/{task['id']}/share/{friend.username}"
    assert http.delete(path, headers=account.headers).status_code == 204
    assert_status_body(http.delete(path, headers=account.headers), 404, 5)  # no longer shared: no event
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created", "task.shared", "task.shared", "task.unshared"]
    event = events[3]
    assert_envelope(
        event,
        "task.unshared",
        actor=account,
        task=task,
        audience=[account.id, friend.id, other.id],
        since=since,
    )
    assert share_json(event.task_unshared.share) == with_times(shared)
    # The marker, after the unshare, no longer reaches the removed user.
    marker = task_events(redis_url, task["id"])[-1]
    assert sorted(marker.audience_user_ids) == sorted([account.id, other.id])


# -- what a share lets its holder do ---------------------------------------------------------
def test_an_editors_changes_name_the_editor_as_actor(http, account, redis_url, since) -> None:
    task = create_task(http, account, title="team", tags=["a"])
    editor = new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    response = http.patch(f"/tasks/{task['id']}", json={"description": "by editor"}, headers=editor.headers)
    assert response.status_code == 200, response.text
    response = http.post(f"/tasks/{task['id']}/tags", json=["e"], headers=editor.headers)
    assert response.status_code == 200, response.text
    response = http.delete(f"/tasks/{task['id']}/tags/a", headers=editor.headers)
    assert response.status_code == 200, response.text
    events = events_before_marker(http, redis_url, editor, task["id"])
    assert event_types(events) == [
        "task.created",
        "task.shared",
        "task.updated",
        "task.tags_added",
        "task.tag_removed",
    ]
    for event in events[2:]:
        assert_envelope(
            event, event.type, actor=editor, task=task, audience=[account.id, editor.id], since=since
        )
    assert changes(events[2].task_updated) == {"description": (None, "by editor")}
    assert list(events[3].tags_added.added) == ["e"]
    assert events[4].tag_removed.tag == "a"


def test_a_viewers_forbidden_changes_publish_nothing(http, account, redis_url) -> None:
    task = create_task(http, account, tags=["a"])
    viewer = new_account(http)
    friend = new_user(http)
    share_task(http, account, task["id"], viewer.username, "view")
    share_task(http, account, task["id"], friend.username, "view")
    tid = task["id"]
    forbidden = [
        http.patch(f"/tasks/{tid}", json={"title": "mine now"}, headers=viewer.headers),
        http.patch(f"/tasks/{tid}", json={"completed": True}, headers=viewer.headers),
        bulk_update(http, viewer, [tid], {"priority": "high"}),
        http.post(f"/tasks/{tid}/tags", json=["v"], headers=viewer.headers),
        http.delete(f"/tasks/{tid}/tags/a", headers=viewer.headers),
        http.delete(f"/tasks/{tid}", headers=viewer.headers),
        share(http, viewer, tid, new_user(http).username),
        http.put(
            f"/tasks/{tid}/share/{friend.username}", json={"permission": "edit"}, headers=viewer.headers
        ),
        http.delete(f"/tasks/{tid}/share/{friend.username}", headers=viewer.headers),
    ]
    for response in forbidden:
        assert_status_body(response, 403, 7)
    assert event_types(events_before_marker(http, redis_url, account, tid)) == [
        "task.created",
        "task.shared",
        "task.shared",
    ]


def test_a_strangers_changes_publish_nothing(http, account, redis_url) -> None:
    task = create_task(http, account, tags=["a"])
    stranger = new_account(http)
    tid = task["id"]
    hidden = [
        http.patch(f"/tasks/{tid}", json={"title": "mine now"}, headers=stranger.headers),
        http.post(f"/tasks/{tid}/tags", json=["s"], headers=stranger.headers),
        http.delete(f"/tasks/{tid}/tags/a", headers=stranger.headers),
        http.delete(f"/tasks/{tid}", headers=stranger.headers),
        add_comment(http, stranger, tid, "hello"),
    ]
    for response in hidden:
        assert_status_body(response, 404, 5)
    assert event_types(events_before_marker(http, redis_url, account, tid)) == ["task.created"]


# -- comment.added / comment.updated / comment.deleted ---------------------------------------
def test_comments_publish_added_updated_and_deleted(http, account, redis_url, since) -> None:
    task = create_task(http, account, title="discussed")
    viewer = new_account(http)
    share_task(http, account, task["id"], viewer.username, "view")
    audience = [account.id, viewer.id]

    added = create_comment(http, viewer, task["id"], "first words")  # viewers comment too
    response = edit_comment(http, viewer, added["id"], "second thoughts", task_id=task["id"])
    assert response.status_code == 200, response.text
    edited = response.json()
    assert remove_comment(http, account, added["id"], task_id=task["id"]).status_code == 204  # the owner

    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == [
        "task.created",
        "task.shared",
        "comment.added",
        "comment.updated",
        "comment.deleted",
    ]
    assert_unique_ids(events)
    event = events[2]
    assert_envelope(event, "comment.added", actor=viewer, task=task, audience=audience, since=since)
    assert event.WhichOneof("payload") == "comment_added"
    assert comment_json(event.comment_added.comment) == with_times(added)
    assert not event.comment_added.comment.HasField("updated_at")

    event = events[3]
    assert_envelope(event, "comment.updated", actor=viewer, task=task, audience=audience, since=since)
    payload = event.comment_updated
    assert (payload.old_content, payload.new_content) == ("first words", "second thoughts")
    assert comment_json(payload.comment) == with_times(edited)
    assert payload.comment.content == "second thoughts" and payload.comment.HasField("updated_at")

    event = events[4]
    assert_envelope(event, "comment.deleted", actor=account, task=task, audience=audience, since=since)
    assert comment_json(event.comment_deleted.comment) == with_times(edited)


def test_comment_aliases_publish_the_same_events(http, account, redis_url) -> None:
    task = create_task(http, account)
    comment = create_comment(http, account, task["id"], "via alias")
    assert edit_comment(http, account, comment["id"], "edited via alias").status_code == 200
    assert remove_comment(http, account, comment["id"]).status_code == 204
    events = events_before_marker(http, redis_url, account, task["id"])
    assert event_types(events) == ["task.created", "comment.added", "comment.updated", "comment.deleted"]
    assert events[3].comment_deleted.comment.id == comment["id"]
    assert events[3].comment_deleted.comment.content == "edited via alias"


def test_refused_comment_changes_publish_nothing(http, account, redis_url) -> None:
    task = create_task(http, account)
    editor = new_account(http)
    share_task(http, account, task["id"], editor.username, "edit")
    comment = create_comment(http, account, task["id"], "the owner's")
    tid = task["id"]
    assert_bad_request(add_comment(http, editor, tid, ""), "content")
    assert_bad_request(add_comment(http, editor, tid, "c" * 1001), "content")
    assert_status_body(edit_comment(http, editor, comment["id"], "not my comment", task_id=tid), 403, 7)
    assert_status_body(remove_comment(http, editor, comment["id"], task_id=tid), 403, 7)
    assert_bad_request(edit_comment(http, account, comment["id"], "", task_id=tid), "content")
    assert_status_body(edit_comment(http, account, MISSING_ID, "nothing", task_id=tid), 404, 5)
    assert event_types(events_before_marker(http, redis_url, account, tid)) == [
        "task.created",
        "task.shared",
        "comment.added",
    ]


# -- user.registered -------------------------------------------------------------------------
def test_register_publishes_user_registered(http, redis_url, since) -> None:
    username = unique("user")
    response = register(http, username)
    assert response.status_code == 201, response.text
    user = response.json()
    # A second registration with that name fails (409) and must publish nothing.
    assert register(http, username, email=f"other-{username}@example.com").status_code == 409
    # Registrations are published in commit order: once a later user's event is in, so is ours.
    later = new_user(http)
    user_events(redis_url, later.id, until=bool)
    everything = [entry.envelope for entry in StreamReader.of(redis_url, AUTH_EVENTS_STREAM).read()]
    mine = [event for event in everything if event.user_registered.username == username]
    assert len(mine) == 1, mine
    [event] = mine
    assert event.type == "user.registered" and event.WhichOneof("payload") == "user_registered"
    assert uuid.UUID(event.event_id).version == 4
    assert since <= event.occurred_at.ToDatetime(tzinfo=UTC) <= datetime.now(UTC) + timedelta(seconds=1)
    assert (event.actor_user_id, event.actor_username) == (user["id"], username)
    assert not event.HasField("task_id") and not event.HasField("task_owner_user_id")
    assert not event.HasField("task_title")
    assert list(event.audience_user_ids) == []
    assert (event.schema_version, event.producer) == (1, "auth")
    payload = event.user_registered
    assert (payload.user_id, payload.username, payload.email) == (user["id"], username, user["email"])
    assert payload.created_at.ToDatetime(tzinfo=UTC) == when(user["created_at"])
    assert user_events(redis_url, user["id"]) == [event]


def test_logging_in_publishes_nothing(http, redis_url) -> None:
    user = new_user(http)
    log_in(http, user)
    later = new_user(http)
    user_events(redis_url, later.id, until=bool)
    assert len(user_events(redis_url, user.id)) == 1
    actors = [
        entry.envelope
        for entry in StreamReader.of(redis_url, AUTH_EVENTS_STREAM).read()
        if entry.envelope.actor_user_id == user.id
    ]
    assert event_types(actors) == ["user.registered"]


# -- the stream entries themselves -----------------------------------------------------------
@pytest.mark.parametrize("stream", [TASK_EVENTS_STREAM, AUTH_EVENTS_STREAM])
def test_stream_entries_carry_the_envelopes_id_and_type_and_an_id_names_one_event(
    http, account, redis_url, stream
) -> None:
    task = create_task(http, account)
    events_before_marker(http, redis_url, account, task["id"])
    user_events(redis_url, account.id, until=bool)
    entries = StreamReader.of(redis_url, stream).read()
    assert entries
    for entry in entries:
        assert entry.event_id == entry.envelope.event_id, entry
        assert entry.type == entry.envelope.type, entry
        assert entry.envelope.schema_version == 1, entry
        assert entry.envelope.producer == stream.removeprefix("events:"), entry
        assert entry.envelope.WhichOneof("payload") is not None, entry
    # Delivery is at least once: a relay killed between publish and mark (test_event_outages)
    # publishes a batch again. A repeated id must then be the very same event, never another.
    by_id: dict[str, set[bytes]] = {}
    for entry in entries:
        by_id.setdefault(entry.event_id, set()).add(entry.envelope.SerializeToString())
    assert all(len(payloads) == 1 for payloads in by_id.values()), "two events share an id in " + stream
