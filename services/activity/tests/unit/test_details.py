"""Every event type's entry read back in the original's `details` shape (API.md, Activity): from the
details as the log stores them (what the event translation makes, and so what rows recorded before
this rendering hold), with the stored keys kept beside the original ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.struct_pb2 import NULL_VALUE, ListValue, Value

from support.events import payload_of
from taskmanager.events.v1 import events_pb2 as pb
from tm_activity.adapters.event_translation import event_of
from tm_activity.domain import entries
from tm_activity.domain.details import as_logged, original_details
from tm_activity.domain.entries import Entry
from tm_common.events import envelope

OWNER, EDITOR, TASK = 7, 8, 42


def value(v: object) -> Value:
    result = Value()
    if v is None:
        result.null_value = NULL_VALUE
    elif isinstance(v, bool):
        result.bool_value = v
    elif isinstance(v, list):
        result.list_value.CopyFrom(ListValue(values=[value(item) for item in v]))
    else:
        result.string_value = str(v)
    return result


def stored(event_type: str, fill) -> tuple[str, str, dict]:  # type: ignore[no-untyped-def]
    """(action, resource_type, details) of the entry the event makes, as the log stores it."""
    made = envelope(
        payload_of(event_type), "tasks", OWNER, task_id=TASK, task_owner_user_id=OWNER, task_title="t"
    )
    fill(made)
    event = event_of(made)
    assert event is not None
    entry = entries.entry_of(event)
    assert entry is not None and entry.details is not None
    return entry.action, entry.resource_type, entry.details


def rendered(event_type: str, fill) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """(what the original logged, the stored details) of the event's entry."""
    action, resource_type, details = stored(event_type, fill)
    out = original_details(action, resource_type, details)
    assert out is not None
    assert {k: out[k] for k in details} == details  # the richer detail stays, unchanged
    return {k: v for k, v in out.items() if k not in details or k == "task_id"}, details


TASK_SNAPSHOT = pb.TaskSnapshot(
    id=TASK, title="Buy milk", description="two litres", priority="low", due_date="2030-12-01",
    tags=["home"], user_id=OWNER,
)  # fmt: skip
BARE_TASK = pb.TaskSnapshot(
    id=TASK, title="t", priority="medium", user_id=OWNER
)  # no description, due date, tags
SHARE = pb.ShareSnapshot(
    id=3, task_id=TASK, shared_with_user_id=EDITOR, shared_with_username="bob", permission="view"
)
COMMENT = pb.CommentSnapshot(id=5, task_id=TASK, user_id=EDITOR, content="hi")
FILE = pb.FileSnapshot(
    id=9, task_id=TASK, original_filename="a.pdf", file_size=2000, content_type="application/pdf",
    uploaded_by_user_id=OWNER,
)  # fmt: skip

TASK_FIELDS = {
    "title": "Buy milk",
    "description": "two litres",
    "priority": "low",
    "completed": False,
    "due_date": "2030-12-01",
    "tags": ["home"],
}


@pytest.mark.parametrize(
    ("event_type", "payload"), [("task.created", "task_created"), ("task.deleted", "task_deleted")]
)
def test_created_and_deleted_tasks_give_the_tasks_fields_at_the_top(event_type: str, payload: str) -> None:
    original, details = rendered(event_type, lambda e: getattr(e, payload).task.CopyFrom(TASK_SNAPSHOT))
    assert original == TASK_FIELDS
    assert details["task"]["id"] == TASK
    bare, _ = rendered(event_type, lambda e: getattr(e, payload).task.CopyFrom(BARE_TASK))
    assert bare == {
        "title": "t",
        "description": None,
        "priority": "medium",
        "completed": False,
        "due_date": None,
        "tags": [],
    }


@pytest.mark.parametrize(
    ("event_type", "payload"), [("task.updated", "task_updated"), ("task.completed", "task_completed")]
)
def test_updates_and_completions_give_changed_fields_old_and_new_values(
    event_type: str, payload: str
) -> None:
    def fill(e: pb.EventEnvelope) -> None:
        body = getattr(e, payload)
        body.task.CopyFrom(TASK_SNAPSHOT)
        body.changes.add(field="due_date", old_value=value("2030-12-01"), new_value=value(None))
        body.changes.add(field="completed", old_value=value(False), new_value=value(True))
        body.changes.add(field="title", old_value=value("a"), new_value=value("b"))

    original, details = rendered(event_type, fill)
    assert original == {
        "changed_fields": ["title", "completed", "due_date"],  # in the Task's order
        "old_values": {"title": "a", "completed": False, "due_date": "2030-12-01"},
        "new_values": {"title": "b", "completed": True, "due_date": None},
    }
    assert set(details) == {"changes"}


def test_tag_changes_are_updates_of_the_tag_list() -> None:
    added, details = rendered(
        "task.tags_added",
        lambda e: e.tags_added.CopyFrom(pb.TagsAdded(added=["b"], old_tags=["a"], new_tags=["a", "b"])),
    )
    assert added == {
        "changed_fields": ["tags"],
        "old_values": {"tags": ["a"]},
        "new_values": {"tags": ["a", "b"]},
    }
    assert details["added"] == ["b"]
    removed, details = rendered(
        "task.tag_removed",
        lambda e: e.tag_removed.CopyFrom(pb.TagRemoved(tag="a", old_tags=["a", "b"], new_tags=["b"])),
    )
    assert removed == {
        "changed_fields": ["tags"],
        "old_values": {"tags": ["a", "b"]},
        "new_values": {"tags": ["b"]},
    }
    assert details["removed"] == "a"


@pytest.mark.parametrize(
    ("event_type", "payload"), [("task.shared", "task_shared"), ("task.unshared", "task_unshared")]
)
def test_shares_and_unshares_name_the_user_and_the_permission(event_type: str, payload: str) -> None:
    original, details = rendered(event_type, lambda e: getattr(e, payload).share.CopyFrom(SHARE))
    assert original == {"shared_with_username": "bob", "permission": "view"}
    assert details["share"]["shared_with_user_id"] == EDITOR


def test_a_permission_change_gives_the_new_and_the_old_permission() -> None:
    edit = pb.ShareSnapshot(**{**{f.name: v for f, v in SHARE.ListFields()}, "permission": "edit"})
    original, _ = rendered(
        "task.share_permission_changed",
        lambda e: e.share_permission_changed.CopyFrom(
            pb.SharePermissionChanged(share=edit, old_permission="view", new_permission="edit")
        ),
    )
    assert original == {
        "shared_with_username": "bob",
        "permission": "edit",
        "old_permission": "view",
        "new_permission": "edit",
        "changed_fields": ["permission"],
        "old_values": {"permission": "view"},
        "new_values": {"permission": "edit"},
    }


@pytest.mark.parametrize(
    ("event_type", "payload"), [("comment.added", "comment_added"), ("comment.deleted", "comment_deleted")]
)
def test_comments_added_and_deleted_give_task_id_and_content(event_type: str, payload: str) -> None:
    original, details = rendered(event_type, lambda e: getattr(e, payload).comment.CopyFrom(COMMENT))
    assert original == {"task_id": TASK, "content": "hi"}
    assert details["comment"]["id"] == 5


def test_a_comment_edit_gives_the_new_content_and_the_old() -> None:
    original, _ = rendered(
        "comment.updated",
        lambda e: e.comment_updated.CopyFrom(
            pb.CommentUpdated(comment=COMMENT, old_content="hi", new_content="hey")
        ),
    )
    assert original == {
        "task_id": TASK,
        "content": "hey",
        "old_content": "hi",
        "new_content": "hey",
        "changed_fields": ["content"],
        "old_values": {"content": "hi"},
        "new_values": {"content": "hey"},
    }


@pytest.mark.parametrize("event_type", ["file.uploaded", "file.deleted"])
def test_files_give_filename_task_size_and_type(event_type: str) -> None:
    def fill(e: pb.EventEnvelope) -> None:
        if event_type == "file.uploaded":
            e.file_uploaded.file.CopyFrom(FILE)
        else:
            e.file_deleted.CopyFrom(pb.FileDeleted(file=FILE, cause="request"))

    original, details = rendered(event_type, fill)
    assert details["file"]["id"] == 9
    assert original == {
        "filename": "a.pdf",
        "task_id": TASK,
        "file_size": 2000,
        "content_type": "application/pdf",
    }
    assert type(original["file_size"]) is int and type(original["task_id"]) is int
    untyped = pb.FileSnapshot(id=9, task_id=TASK, original_filename="a.txt", file_size=3)
    bare, _ = rendered("file.uploaded", lambda e: e.file_uploaded.file.CopyFrom(untyped))
    assert bare["content_type"] is None


# Rows as the log stored them before this rendering, read back from JSONB (key order lost).
OLD_ROWS = [
    ("created", "task", {"task": {"id": 1, "title": "x", "priority": "high", "completed": True, "tags": []}}),
    ("updated", "task", {"changes": {"tags": {"new": ["a"], "old": []}}, "added": ["a"]}),
    ("unshared", "task", {"share": {"id": 2, "permission": "edit", "shared_with_username": "c"}}),
    (
        "deleted",
        "file",
        {"task_id": 1, "file": {"id": 4, "file_size": 1, "original_filename": "n"}, "cause": "x"},
    ),
]
OLD_EXPECTED = [
    {"title": "x", "description": None, "priority": "high", "completed": True, "due_date": None, "tags": []},
    {"changed_fields": ["tags"], "old_values": {"tags": []}, "new_values": {"tags": ["a"]}},
    {"shared_with_username": "c", "permission": "edit"},
    {"filename": "n", "task_id": 1, "file_size": 1, "content_type": None},
]


@pytest.mark.parametrize(("row", "expected"), list(zip(OLD_ROWS, OLD_EXPECTED, strict=True)))
def test_stored_rows_render_as_they_are(row: tuple, expected: dict) -> None:
    action, resource_type, details = row
    assert original_details(action, resource_type, details) == details | expected


def test_details_with_nothing_to_render_from_stay_as_they_are() -> None:
    assert original_details("created", "task", None) is None
    assert original_details("updated", "task", {}) == {}
    assert original_details("updated", "comment", {"task_id": 1}) == {"task_id": 1}
    assert original_details("archived", "task", {"x": 1}) == {"x": 1}  # an action it does not know
    assert original_details("shared", "task", {"share": "not an object"}) == {"share": "not an object"}


def test_an_entry_is_read_with_its_details_rendered_and_nothing_else_changed() -> None:
    at = datetime(2026, 11, 10, tzinfo=UTC)
    entry = Entry(
        1, OWNER, "alice", "uploaded", "file", 9, {"task_id": TASK, "file": {"original_filename": "a"}}, at
    )
    logged = as_logged(entry)
    assert logged.details is not None and logged.details["filename"] == "a"
    assert (logged.id, logged.user_id, logged.action, logged.created_at) == (1, OWNER, "uploaded", at)
    assert as_logged(Entry(2, OWNER, None, "created", "task", 1, None, at)).details is None
