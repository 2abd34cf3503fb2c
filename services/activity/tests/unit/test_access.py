"""Who may read a timeline, on plain events: the changes events make, a batch reduced to one write
per task and per share, and the rule itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tm_activity.domain.access import (
    AccessChange,
    TimelineAccess,
    access_change,
    access_update,
    may_read_timeline,
)
from tm_activity.domain.events import Event, ShareSeen

OWNER, VIEWER, OTHER = 1, 2, 3
T0 = datetime(2026, 11, 10, tzinfo=UTC)


def event(event_type: str, task_id: int | None = 7, share: ShareSeen | None = None, at: int = 0) -> Event:
    return Event(
        event_id="e",
        type=event_type,
        actor_user_id=OWNER,
        actor_username=None,
        occurred_at=T0 + timedelta(seconds=at),
        task_id=task_id,
        task_owner_user_id=None if task_id is None else OWNER,
        resource_id=task_id or 0,
        details={},
        share=share,
    )


def test_task_events_tell_the_owner_and_the_delete() -> None:
    assert access_change(event("comment.added")) == AccessChange(7, T0, OWNER)
    assert access_change(event("task.deleted")) == AccessChange(7, T0, OWNER, deleted=True)
    assert access_change(event("user.registered", task_id=None)) is None


@pytest.mark.parametrize(
    ("event_type", "active"),
    [("task.shared", True), ("task.share_permission_changed", True), ("task.unshared", False)],
)
def test_share_events_grant_or_revoke(event_type: str, active: bool) -> None:
    change = access_change(event(event_type, share=ShareSeen(VIEWER, "edit")))
    assert change == AccessChange(
        7, T0, OWNER, viewer_user_id=VIEWER, viewer_active=active, permission="edit"
    )


def share(user_id: int, at: int, active: bool = True, task_id: int = 7) -> AccessChange:
    return AccessChange(task_id, T0 + timedelta(seconds=at), OWNER, False, user_id, active, "view")


def test_a_batch_keeps_the_latest_change_of_each_share_and_each_delete() -> None:
    changes = [
        share(VIEWER, 3, active=False),
        share(VIEWER, 1),
        share(OTHER, 2),
        share(VIEWER, 3),  # a tie keeps the first delivered
        AccessChange(8, T0, 4),
        AccessChange(8, T0 + timedelta(seconds=5), 4, deleted=True),
        AccessChange(8, T0, 5),  # the owner as first told stays
    ]
    update = access_update(changes)
    assert update.owners == {7: OWNER, 8: 4}
    assert update.deleted == {8: T0 + timedelta(seconds=5)}
    assert update.viewers == [changes[0], changes[2]]


@pytest.mark.parametrize(
    ("access", "user_id", "may"),
    [
        (None, OWNER, False),
        (TimelineAccess(OWNER, deleted=False, shared=False), OWNER, True),
        (TimelineAccess(OWNER, deleted=True, shared=False), OWNER, False),
        (TimelineAccess(OWNER, deleted=False, shared=True), VIEWER, True),
        (TimelineAccess(OWNER, deleted=True, shared=True), VIEWER, False),
        (TimelineAccess(OWNER, deleted=True, shared=False), OTHER, False),
        (TimelineAccess(OWNER, deleted=False, shared=False), VIEWER, False),
    ],
)
def test_who_may_read_a_timeline(access: TimelineAccess | None, user_id: int, may: bool) -> None:
    assert may_read_timeline(access, user_id) is may
