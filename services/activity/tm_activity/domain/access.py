"""Who may read a task's timeline, as the events tell it. Pure, no I/O.

While the task exists, its owner may and so may a user it is shared with while the share is active;
once it is deleted nobody may (404, as for the task itself; the delete stays in its actor's own
history). Events can arrive out of order: of the changes to one share, the one that happened last
(by event time) wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tm_activity.domain.events import Event

REVOKING = "task.unshared"


@dataclass(frozen=True, slots=True)
class AccessChange:
    """What one event says about who may read its task's timeline."""

    task_id: int
    as_of: datetime  # the event's time
    owner_user_id: int  # known from any task event
    deleted: bool = False
    viewer_user_id: int | None = None  # a share that was granted, changed or revoked
    viewer_active: bool = False
    permission: str = ""


def access_change(event: Event) -> AccessChange | None:
    if event.task_id is None or event.task_owner_user_id is None:
        return None
    change = AccessChange(
        task_id=event.task_id,
        as_of=event.occurred_at,
        owner_user_id=event.task_owner_user_id,
        deleted=event.type == "task.deleted",
    )
    if event.share is None:
        return change
    return AccessChange(
        task_id=change.task_id,
        as_of=change.as_of,
        owner_user_id=change.owner_user_id,
        viewer_user_id=event.share.user_id,
        viewer_active=event.type != REVOKING,
        permission=event.share.permission,
    )


@dataclass(frozen=True, slots=True)
class AccessUpdate:
    """A batch of changes, reduced to one write per task and per (task, viewer)."""

    owners: dict[int, int] = field(default_factory=dict)  # task -> owner, as first told
    deleted: dict[int, datetime] = field(default_factory=dict)  # task -> when it was deleted
    viewers: list[AccessChange] = field(default_factory=list)  # the latest change of each share


def access_update(changes: Sequence[AccessChange]) -> AccessUpdate:
    """Changes in delivery order. The store keeps a share's change only if it is later than the
    one it holds, so that applying the update equals applying the changes one by one."""
    owners = {c.task_id: c.owner_user_id for c in reversed(changes)}
    deleted = {c.task_id: c.as_of for c in changes if c.deleted}
    latest: dict[tuple[int, int], AccessChange] = {}
    for change in changes:
        if change.viewer_user_id is None:
            continue
        key = (change.task_id, change.viewer_user_id)
        if key not in latest or latest[key].as_of < change.as_of:
            latest[key] = change
    return AccessUpdate(owners, deleted, list(latest.values()))


@dataclass(frozen=True, slots=True)
class TimelineAccess:
    """A task's readers as one user sees them."""

    owner_user_id: int
    deleted: bool
    shared: bool  # an active share with that user


def may_read_timeline(access: TimelineAccess | None, user_id: int) -> bool:
    """None: no event of the task was seen."""
    if access is None or access.deleted:
        return False
    return access.owner_user_id == user_id or access.shared
