"""The auth service's events (taskmanager.events.v1)."""

from __future__ import annotations

from taskmanager.events.v1 import events_pb2 as pb
from tm_auth.domain.accounts import User
from tm_common.convert import timestamp
from tm_common.events import envelope

PRODUCER = "auth"


def user_registered(user: User) -> pb.EventEnvelope:
    """Carries the email so that notify keeps its own copy of what it needs."""
    registered = pb.UserRegistered(
        user_id=user.id, username=user.username, email=user.email, created_at=timestamp(user.created_at)
    )
    return envelope(registered, PRODUCER, user.id, actor_username=user.username)
