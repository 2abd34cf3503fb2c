"""The events notify consumes (taskmanager.events.v1), read as the domain's plain values: an
account to remember, or news of a task that may be emailed about."""

from __future__ import annotations

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_notify.domain.notifications import SWITCH_OF, TaskNews
from tm_notify.domain.users import User

REGISTERED = "user.registered"
# What the handler acts on: the consumer acknowledges every other event without a transaction.
HANDLED = frozenset({REGISTERED, *SWITCH_OF})


def registration_of(event: EventEnvelope) -> User | None:
    """The account of a user.registered event; None for any other event."""
    if event.type != REGISTERED:
        return None
    registered = event.user_registered
    return User(registered.user_id, registered.username, registered.email)


def news_of(event: EventEnvelope) -> TaskNews | None:
    """The change of an event that may notify someone; None for the others."""
    if event.type not in SWITCH_OF:
        return None
    share = event.task_shared.share if event.type == "task.shared" else None
    return TaskNews(
        event_id=event.event_id,
        kind=event.type,
        actor_user_id=event.actor_user_id,
        actor_username=event.actor_username,
        task_title=event.task_title,
        audience=tuple(event.audience_user_ids),
        shared_with_user_id=share.shared_with_user_id if share is not None else 0,
        permission=share.permission if share is not None else "",
        comment=event.comment_added.comment.content if event.type == "comment.added" else "",
        due_date=event.task_due_soon.due_date if event.type == "task.due_soon" else "",
    )
