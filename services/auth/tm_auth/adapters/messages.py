"""The auth service's entity as protobuf: the API message (auth.v1), which the event's snapshot
(events.v1 UserRegistered) is read from, so that a user is mapped once."""

from __future__ import annotations

from taskmanager.auth.v1 import auth_pb2
from tm_auth.domain.accounts import User
from tm_common.convert import timestamp


def user_message(user: User) -> auth_pb2.User:
    return auth_pb2.User(
        id=user.id, username=user.username, email=user.email, created_at=timestamp(user.created_at)
    )
