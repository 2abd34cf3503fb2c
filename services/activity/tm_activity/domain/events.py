"""An event of the streams as this service reads it: who did what to which resource, and when.
Pure, no I/O; adapters/event_translation.py makes them from the stream's EventEnvelopes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ShareSeen:
    """The share a sharing event is about."""

    user_id: int  # whom the task is shared with
    permission: str


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    type: str  # the contract's type: "task.created", "comment.updated", ...
    actor_user_id: int
    actor_username: str | None
    occurred_at: datetime
    task_id: int | None  # the task the event is about, or the task of its comment or file
    task_owner_user_id: int | None
    resource_id: int  # the task, comment or file
    details: dict[str, Any]  # what the event tells of it, as JSON (an entry's `details`)
    share: ShareSeen | None = None  # task.shared, task.share_permission_changed, task.unshared
