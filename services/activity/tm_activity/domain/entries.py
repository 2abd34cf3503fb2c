"""Audit log entries, and which entry each event makes. Pure, no I/O.

Actions and resource types are API.md's: a permission change and a tag change are `updated`
entries of the task; comment and file entries name their task in `details.task_id`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tm_activity.domain.events import Event

ACTIONS = ("created", "updated", "deleted", "shared", "unshared", "uploaded")
RESOURCE_TYPES = ("task", "comment", "file")

# The (action, resource type) of the entry of each event type; types not here are not audited.
KINDS: dict[str, tuple[str, str]] = {
    "task.created": ("created", "task"),
    "task.updated": ("updated", "task"),
    "task.completed": ("updated", "task"),
    "task.deleted": ("deleted", "task"),
    "task.tags_added": ("updated", "task"),
    "task.tag_removed": ("updated", "task"),
    "task.shared": ("shared", "task"),
    "task.share_permission_changed": ("updated", "task"),
    "task.unshared": ("unshared", "task"),
    "comment.added": ("created", "comment"),
    "comment.updated": ("updated", "comment"),
    "comment.deleted": ("deleted", "comment"),
    "file.uploaded": ("uploaded", "file"),
    "file.deleted": ("deleted", "file"),
}


@dataclass(frozen=True, slots=True)
class NewEntry:
    event_id: str
    user_id: int
    username: str | None
    action: str
    resource_type: str
    resource_id: int
    task_id: int | None
    details: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    user_id: int
    username: str | None
    action: str
    resource_type: str
    resource_id: int
    details: dict[str, Any] | None
    created_at: datetime


def entry_of(event: Event) -> NewEntry | None:
    """The entry an event makes, by its actor at its time; None for events that are not audited."""
    kind = KINDS.get(event.type)
    if kind is None:
        return None
    action, resource_type = kind
    return NewEntry(
        event_id=event.event_id,
        user_id=event.actor_user_id,
        username=event.actor_username,
        action=action,
        resource_type=resource_type,
        resource_id=event.resource_id,
        task_id=event.task_id,
        details=event.details,
        created_at=event.occurred_at,
    )
