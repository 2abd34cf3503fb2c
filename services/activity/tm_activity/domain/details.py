"""An entry's `details` as the original task manager logged them (API.md, Activity), rendered when
the entry is read from what the log stores: the event's snapshots and changes under `task`,
`changes`, `share`, `comment` and `file`. Pure, no I/O.

Rendering on read serves entries recorded before these shapes existed like new ones (no backfill);
the stored keys stay in the answer beside the original ones, as richer detail."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tm_activity.domain.entries import Entry

Details = dict[str, Any]

# A created or deleted task's fields, with the value a snapshot leaves out when it has none.
TASK_FIELDS: dict[str, Any] = {
    "title": "",
    "description": None,
    "priority": None,
    "completed": False,
    "due_date": None,
    "tags": [],
}
# changed_fields lists fields in the Task's order (the stored changes do not keep the request's).
FIELD_ORDER = ("title", "description", "completed", "priority", "due_date", "tags", "permission", "content")


def _field_rank(name: str) -> tuple[int, str]:
    return (FIELD_ORDER.index(name) if name in FIELD_ORDER else len(FIELD_ORDER), name)


def _changed(changes: dict[str, Any]) -> Details:
    """{field: {old, new}} as {changed_fields, old_values, new_values}."""
    fields = sorted(changes, key=_field_rank)
    return {
        "changed_fields": fields,
        "old_values": {name: changes[name].get("old") for name in fields},
        "new_values": {name: changes[name].get("new") for name in fields},
    }


def _task(details: Details) -> Details:
    task = details.get("task")
    if isinstance(task, dict):  # created, deleted
        return {name: task.get(name, missing) for name, missing in TASK_FIELDS.items()}
    share = details.get("share")
    if isinstance(share, dict):  # a permission change
        return _share(details) | _permission_change(details.get("changes"))
    changes = details.get("changes")
    return _changed(changes) if isinstance(changes, dict) else {}  # updates, tags


def _share(details: Details) -> Details:
    share = details.get("share")
    if not isinstance(share, dict):
        return {}
    return {"shared_with_username": share.get("shared_with_username"), "permission": share.get("permission")}


def _permission_change(changes: Any) -> Details:
    if not isinstance(changes, dict) or not isinstance(changes.get("permission"), dict):
        return {}
    permission = changes["permission"]
    old, new = permission.get("old"), permission.get("new")
    return {"old_permission": old, "new_permission": new} | _changed({"permission": permission})


def _comment(details: Details) -> Details:
    comment = details.get("comment")
    if isinstance(comment, dict):  # created, deleted
        return {
            "task_id": details.get("task_id", comment.get("task_id")),
            "content": comment.get("content", ""),
        }
    changes = details.get("changes")
    if not isinstance(changes, dict) or not isinstance(changes.get("content"), dict):
        return {}
    old, new = changes["content"].get("old"), changes["content"].get("new")
    shape = {"task_id": details.get("task_id"), "content": new, "old_content": old, "new_content": new}
    return shape | _changed(changes)


def _file(details: Details) -> Details:
    file = details.get("file")
    if not isinstance(file, dict):
        return {}
    return {
        "filename": file.get("original_filename"),
        "task_id": details.get("task_id", file.get("task_id")),
        "file_size": file.get("file_size"),
        "content_type": file.get("content_type"),
    }


RENDERERS: dict[tuple[str, str], Callable[[Details], Details]] = {
    ("created", "task"): _task,
    ("updated", "task"): _task,
    ("deleted", "task"): _task,
    ("shared", "task"): _share,
    ("unshared", "task"): _share,
    ("created", "comment"): _comment,
    ("updated", "comment"): _comment,
    ("deleted", "comment"): _comment,
    ("uploaded", "file"): _file,
    ("deleted", "file"): _file,
}


def original_details(action: str, resource_type: str, details: Details | None) -> Details | None:
    """The stored details with the original's keys added (they win over a stored key of the same
    name); unchanged when they hold nothing to render from."""
    if details is None:
        return None
    render = RENDERERS.get((action, resource_type))
    return details if render is None else details | render(details)


def as_logged(entry: Entry) -> Entry:
    """The entry with its details in the original's shape."""
    details = original_details(entry.action, entry.resource_type, entry.details)
    return entry if details is entry.details else dataclasses.replace(entry, details=details)
