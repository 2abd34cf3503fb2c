"""Each event of the streams becomes the entry API.md describes (read by the adapter, the entry
made by the domain); access changes follow the share events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.struct_pb2 import NULL_VALUE, Value

from support.events import payload_of
from taskmanager.events.v1 import events_pb2 as pb
from tm_activity.adapters.event_translation import event_of
from tm_activity.domain import access, entries
from tm_activity.domain.access import AccessChange
from tm_activity.domain.entries import NewEntry
from tm_common.events import envelope

OWNER, EDITOR = 7, 8


def task_event(event_type: str, actor: int = OWNER, task_id: int = 42) -> pb.EventEnvelope:
    event = envelope(
        payload_of(event_type), "tasks", actor, task_id=task_id, task_owner_user_id=OWNER, task_title="t"
    )
    event.actor_username = "alice"
    return event


def entry_of(envelope: pb.EventEnvelope) -> NewEntry | None:
    event = event_of(envelope)
    assert event is not None
    return entries.entry_of(event)


def access_change(envelope: pb.EventEnvelope) -> AccessChange | None:
    event = event_of(envelope)
    assert event is not None
    return access.access_change(event)


def value(v: object) -> Value:
    result = Value()
    if v is None:
        result.null_value = NULL_VALUE
    elif isinstance(v, bool):
        result.bool_value = v
    else:
        result.string_value = str(v)
    return result


def share(permission: str = "view") -> pb.ShareSnapshot:
    return pb.ShareSnapshot(
        id=3, task_id=42, shared_with_user_id=EDITOR, shared_with_username="bob", permission=permission
    )


def test_created_task_is_a_created_task_entry_with_the_snapshot() -> None:
    event = task_event("task.created")
    event.task_created.task.CopyFrom(pb.TaskSnapshot(id=42, title="t", priority="low", user_id=OWNER))
    entry = entry_of(event)
    assert entry is not None
    assert (entry.action, entry.resource_type, entry.resource_id, entry.task_id) == (
        "created",
        "task",
        42,
        42,
    )
    assert (entry.user_id, entry.username, entry.event_id) == (OWNER, "alice", event.event_id)
    assert entry.details == {
        "task": {"id": 42, "title": "t", "completed": False, "priority": "low", "tags": [], "user_id": OWNER}
    }
    assert entry.created_at == event.occurred_at.ToDatetime(tzinfo=UTC)


@pytest.mark.parametrize("event_type", ["task.updated", "task.completed"])
def test_updates_and_completions_are_updated_entries_with_old_and_new(event_type: str) -> None:
    event = task_event(event_type, actor=EDITOR)
    payload = event.task_updated if event_type == "task.updated" else event.task_completed
    payload.task.id = 42
    payload.changes.add(field="completed", old_value=value(False), new_value=value(True))
    payload.changes.add(field="due_date", old_value=value(None), new_value=value("2026-12-01"))
    entry = entry_of(event)
    assert entry is not None
    assert (entry.action, entry.resource_type, entry.user_id) == ("updated", "task", EDITOR)
    assert entry.details == {
        "changes": {"completed": {"old": False, "new": True}, "due_date": {"old": None, "new": "2026-12-01"}}
    }


def test_tag_changes_are_task_updates() -> None:
    added = task_event("task.tags_added")
    added.tags_added.CopyFrom(pb.TagsAdded(added=["b"], old_tags=["a"], new_tags=["a", "b"]))
    removed = task_event("task.tag_removed")
    removed.tag_removed.CopyFrom(pb.TagRemoved(tag="a", old_tags=["a", "b"], new_tags=["b"]))
    first, second = entry_of(added), entry_of(removed)
    assert first is not None and second is not None
    assert (first.action, first.resource_id) == ("updated", 42)
    assert first.details == {"changes": {"tags": {"old": ["a"], "new": ["a", "b"]}}, "added": ["b"]}
    assert second.details == {"changes": {"tags": {"old": ["a", "b"], "new": ["b"]}}, "removed": "a"}


def test_sharing_entries_carry_the_share() -> None:
    shared = task_event("task.shared")
    shared.task_shared.share.CopyFrom(share("view"))
    changed = task_event("task.share_permission_changed")
    changed.share_permission_changed.CopyFrom(
        pb.SharePermissionChanged(share=share("edit"), old_permission="view", new_permission="edit")
    )
    unshared = task_event("task.unshared")
    unshared.task_unshared.share.CopyFrom(share("edit"))
    entries = [entry_of(e) for e in (shared, changed, unshared)]
    assert [(e.action, e.resource_type) for e in entries if e] == [
        ("shared", "task"),
        ("updated", "task"),
        ("unshared", "task"),
    ]
    assert entries[1] is not None and entries[1].details is not None
    assert entries[1].details["changes"] == {"permission": {"old": "view", "new": "edit"}}
    assert entries[1].details["share"]["shared_with_username"] == "bob"


def test_comment_entries_name_the_comment_and_its_task() -> None:
    comment = pb.CommentSnapshot(id=5, task_id=42, user_id=EDITOR, content="hi")
    added = task_event("comment.added", actor=EDITOR)
    added.comment_added.comment.CopyFrom(comment)
    edited = task_event("comment.updated", actor=EDITOR)
    edited.comment_updated.CopyFrom(pb.CommentUpdated(comment=comment, old_content="hi", new_content="hey"))
    deleted = task_event("comment.deleted")
    deleted.comment_deleted.comment.CopyFrom(comment)
    found = [entry_of(e) for e in (added, edited, deleted)]
    assert [(e.action, e.resource_type, e.resource_id, e.task_id) for e in found if e] == [
        ("created", "comment", 5, 42),
        ("updated", "comment", 5, 42),
        ("deleted", "comment", 5, 42),
    ]
    assert found[1] is not None and found[1].details == {
        "task_id": 42,
        "changes": {"content": {"old": "hi", "new": "hey"}},
    }


def test_file_events_are_uploaded_and_deleted_file_entries() -> None:
    file = pb.FileSnapshot(
        id=9, task_id=42, original_filename="a.txt", file_size=3, uploaded_by_user_id=OWNER
    )
    uploaded = task_event("file.uploaded")
    uploaded.file_uploaded.file.CopyFrom(file)
    deleted = task_event("file.deleted")
    deleted.file_deleted.CopyFrom(pb.FileDeleted(file=file, cause="task_deleted"))
    up, down = entry_of(uploaded), entry_of(deleted)
    assert up is not None and down is not None
    assert (up.action, up.resource_type, up.resource_id) == ("uploaded", "file", 9)
    assert (down.action, down.resource_type) == ("deleted", "file")
    assert down.details is not None and down.details["cause"] == "task_deleted"


def test_user_events_make_no_entry_and_no_access_change() -> None:
    event = envelope(payload_of("user.registered"), "auth", 3)
    event.user_registered.CopyFrom(pb.UserRegistered(user_id=3, username="c", email="c@x.io"))
    assert event_of(event) is None  # nothing to record of it


def test_reminders_make_no_entry_and_no_access_change() -> None:
    event = task_event("task.due_soon", actor=0)
    event.task_due_soon.CopyFrom(
        pb.TaskDueSoon(task=pb.TaskSnapshot(id=42, title="t"), due_date="2026-12-08")
    )
    assert event_of(event) is None  # not an action of anyone's: nothing to audit


def test_access_changes_follow_owner_shares_and_delete() -> None:
    created = task_event("task.created")
    shared = task_event("task.shared")
    shared.task_shared.share.CopyFrom(share("view"))
    unshared = task_event("task.unshared")
    unshared.task_unshared.share.CopyFrom(share("view"))
    deleted = task_event("task.deleted")
    changes = [access_change(e) for e in (created, shared, unshared, deleted)]
    assert all(c is not None and c.owner_user_id == OWNER and c.task_id == 42 for c in changes)
    assert changes[0] is not None and changes[0].viewer_user_id is None and not changes[0].deleted
    assert changes[1] is not None and (changes[1].viewer_user_id, changes[1].viewer_active) == (EDITOR, True)
    assert changes[2] is not None and (changes[2].viewer_user_id, changes[2].viewer_active) == (EDITOR, False)
    assert changes[3] is not None and changes[3].deleted
    assert changes[1].as_of <= datetime.now(UTC)
