"""Rules of sharing a task. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tm_common.errors import InvalidArgument
from tm_common.limits import MAX_USERNAME
from tm_tasks.domain.access import Permission

GRANTABLE = {"view": Permission.VIEW, "edit": Permission.EDIT}
NAMES = {value: name for name, value in GRANTABLE.items()} | {Permission.OWNER: "owner"}


@dataclass(frozen=True, slots=True)
class Share:
    id: int
    task_id: int
    shared_with_user_id: int
    shared_with_username: str
    permission: Permission
    shared_at: datetime


def grantable(word: str | None, field: str = "permission") -> Permission:
    """The permission a share may grant: "view" (the default when absent) or "edit"."""
    if word is None:
        return Permission.VIEW
    if word not in GRANTABLE:
        raise InvalidArgument.for_field(field, "must be view or edit")
    return GRANTABLE[word]


def username(value: str, field: str) -> str:
    """A username to look up, checked before it goes anywhere (no account has a longer one)."""
    name = value.strip()
    if not 1 <= len(name) <= MAX_USERNAME or "\x00" in name:
        raise InvalidArgument.for_field(field, f"must be a username of 1 to {MAX_USERNAME} characters")
    return name


def check_not_self(owner_id: int, target_id: int) -> None:
    if owner_id == target_id:
        raise InvalidArgument.for_field("shared_with_username", "you cannot share a task with yourself")
