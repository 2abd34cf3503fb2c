"""Field rules of a task, shared by create, update, bulk update and tags. Pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date

from tm_common.errors import InvalidArgument, Problems

MAX_TITLE = 200
MAX_DESCRIPTION = 1000
MAX_TAGS = 50
MAX_TAG = 50
MIN_YEAR, MAX_YEAR = 1, 9998  # 9999-12-31 + 1 day overflows in date ranges
PRIORITIES = ("low", "medium", "high")  # in rank order: sorting by priority follows it
RANK = {name: rank for rank, name in enumerate(PRIORITIES, start=1)}  # what sorting compares
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def text_ok(value: str) -> bool:
    """Postgres text cannot hold NUL: such input is refused, not left to fail in the database."""
    return "\x00" not in value


def title(value: object, problems: Problems) -> str:
    if not isinstance(value, str) or not text_ok(value):
        problems.add("title", "must be a string without NUL characters")
        return ""
    trimmed = value.strip()
    if not 1 <= len(trimmed) <= MAX_TITLE:
        problems.add("title", f"must be 1 to {MAX_TITLE} characters")
    return trimmed


def description(value: object, problems: Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not text_ok(value):
        problems.add("description", "must be a string without NUL characters, or null")
        return None
    if len(value) > MAX_DESCRIPTION:
        problems.add("description", f"must be at most {MAX_DESCRIPTION} characters")
    return value


def priority(value: object, problems: Problems, field: str = "priority") -> str:
    if value not in PRIORITIES:
        problems.add(field, "must be one of low, medium, high")
        return "medium"
    return str(value)


def calendar_date(value: object, problems: Problems, field: str) -> date | None:
    """A "YYYY-MM-DD" date; None for None."""
    if value is None:
        return None
    if isinstance(value, str) and DATE_RE.match(value):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and MIN_YEAR <= parsed.year <= MAX_YEAR:
            return parsed
    problems.add(field, f"must be a date as YYYY-MM-DD, years {MIN_YEAR} to {MAX_YEAR}")
    return None


def completed(value: object, problems: Problems) -> bool:
    if not isinstance(value, bool):
        problems.add("completed", "must be true or false")
        return False
    return value


def tags(values: object, problems: Problems, field: str = "tags") -> tuple[str, ...]:
    """Trimmed, non-empty, deduplicated (first occurrence wins), at most MAX_TAGS."""
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        problems.add(field, "must be a list of strings")
        return ()
    return merge_tags((), values, problems, field)


def tag_name(value: str, field: str = "tag") -> str:
    """One tag named in a request (e.g. the one to remove), checked before any lookup."""
    if not 1 <= len(value) <= MAX_TAG or not text_ok(value):
        raise InvalidArgument.for_field(field, f"must be 1 to {MAX_TAG} characters, without NUL")
    return value


def merge_tags(
    current: Iterable[str], added: Sequence[str], problems: Problems, field: str = "tags"
) -> tuple[str, ...]:
    """`current` and then `added`, trimmed and without duplicates. A request naming more tags than
    a task may hold is refused before any work, so its size cannot cost anything."""
    if len(added) > MAX_TAGS:
        problems.add(field, f"at most {MAX_TAGS} tags per task")
        return tuple(current)
    merged = dict.fromkeys(current)
    for raw in added:
        tag = raw.strip()
        if not 1 <= len(tag) <= MAX_TAG or not text_ok(tag):
            problems.add(field, f"each tag must be 1 to {MAX_TAG} characters, without NUL")
        else:
            merged.setdefault(tag)
    if len(merged) > MAX_TAGS:
        problems.add(field, f"at most {MAX_TAGS} tags per task")
    return tuple(merged)
