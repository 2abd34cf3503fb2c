"""Attachments and the rules of accepting one. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import IO

from tm_common.errors import PermissionDenied, Problems
from tm_files.domain.content import content_type
from tm_files.domain.names import check_extension, sanitize

# What each permission on the task allows with its files (the tasks service's names).
READERS = frozenset({"view", "edit", "owner"})
WRITERS = frozenset({"edit", "owner"})


@dataclass(frozen=True, slots=True)
class FileMeta:
    id: int
    task_id: int
    original_filename: str
    file_size: int
    content_type: str
    blob_key: str
    uploaded_by_user_id: int
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """A presigned upload handed out and not yet confirmed: what the client said it would send."""

    upload_id: str
    blob_key: str
    task_id: int
    user_id: int
    original_filename: str
    content_type: str
    declared_size: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TaskAccess:
    """What a user holds on a task, as the tasks service answers it."""

    permission: str  # "owner" | "edit" | "view"
    owner_user_id: int
    audience: list[int]
    task_title: str


@dataclass
class Incoming:
    """An upload's bytes, already received into `source` (a file at any position)."""

    source: IO[bytes]
    size: int
    head: bytes
    filename: str | None
    declared_type: str | None


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    extensions: frozenset[str]


@dataclass(frozen=True, slots=True)
class Accepted:
    """An upload that passed every check: the name and type to store."""

    filename: str
    content_type: str
    size: int


def check_name(filename: str | None, limits: Limits, problems: Problems) -> str:
    name = sanitize(filename, problems)
    check_extension(name, limits.extensions, problems)
    return name


def check_size(size: int, limits: Limits, problems: Problems, field: str = "file") -> None:
    if size > limits.max_bytes:
        problems.add(field, f"is {size} bytes; the limit is {limits.max_bytes} bytes")
    elif size == 0:
        problems.add(field, "is empty")


def accept(
    filename: str | None, declared_type: str | None, size: int, head: bytes, limits: Limits
) -> Accepted:
    """Name, extension, size and content checked at once (every problem named in one 400)."""
    problems = Problems()
    name = check_name(filename, limits, problems)
    check_size(size, limits, problems)
    kind = content_type(name, declared_type, head, problems) if name else ""
    problems.raise_if_any()
    return Accepted(name, kind, size)


def may_change(permission: str, task_id: int) -> None:
    """Uploading and deleting need EDIT or OWNER (VIEW: 403; no access is a 404 before this)."""
    if permission not in WRITERS:
        raise PermissionDenied(f"you may view task {task_id} but not change its files")
