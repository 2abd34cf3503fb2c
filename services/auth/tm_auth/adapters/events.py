"""The auth service's events (taskmanager.events.v1)."""

from __future__ import annotations

from taskmanager.events.v1 import events_pb2 as pb
from tm_auth.adapters.messages import user_message
from tm_auth.domain.accounts import User
from tm_common.convert import recast
from tm_common.events import envelope

PRODUCER = "auth"


def user_registered(user: User) -> pb.EventEnvelope:
    """Carries the email so that notify keeps its own copy of what it needs."""
    registered = recast(user_message(user), pb.UserRegistered)  # User.id is UserRegistered.user_id
    return envelope(registered, PRODUCER, user.id, actor_username=user.username)
