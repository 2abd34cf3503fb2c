"""The accounts notify knows (our copy, from user.registered or the auth service's directory) and
the recipients an email may go to. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from tm_notify.domain.preferences import Preferences


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    username: str
    email: str


@dataclass(frozen=True, slots=True)
class Contact:
    """A known user with their preferences as they stand now: a possible recipient."""

    user_id: int
    username: str
    email: str
    preferences: Preferences
