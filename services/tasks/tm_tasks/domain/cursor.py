"""Keyset paging of the task list: the next page starts after the last row's (sort value, id), so
rows inserted meanwhile never shift a page and no row is seen twice or skipped.

A cursor travels as the values of a page token (tm_common.paging, which authenticates them and
binds them to the caller and the route). It is bound to its query (filters and order) by a
fingerprint, and carries how many rows came before the next page, so that `page` stays right.
Its values are checked here as strictly as request fields: the key is a second line, not the only
one, between a token and the database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from tm_common.errors import InvalidArgument
from tm_common.paging import Scope
from tm_tasks.domain import rules

if TYPE_CHECKING:
    from tm_tasks.domain.listing import ListQuery

VERSION = 1
LENGTH = 5  # values in a token
INT32 = 2**31 - 1


@dataclass(frozen=True)
class Cursor:
    query: str  # fingerprint of the filters and order it was made for
    position: int  # rows before the page it starts
    last_value: Any  # the sort column's value in the last row returned (as stored)
    last_id: int


def scope(user_id: int) -> Scope:
    """What a token of the task list is bound to: this route and its caller."""
    return ("ListTasks", user_id)


def fingerprint(query: ListQuery) -> str:
    shape = dataclasses.asdict(dataclasses.replace(query, skip=0, limit=1, after=None))
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode(cursor: Cursor) -> list[Any]:
    value = cursor.last_value
    value = value.isoformat() if isinstance(value, date | datetime) else value
    return [VERSION, cursor.query, cursor.position, value, cursor.last_id]


def _title(value: Any) -> str:
    if type(value) is not str or len(value) > rules.MAX_TITLE or not rules.text_ok(value):
        raise ValueError("title")
    value.encode()  # a lone surrogate cannot be sent to Postgres: UnicodeEncodeError, a ValueError
    return value


def _int(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if type(value) is not int or not low <= value <= high:  # a bool is not an int here
            raise ValueError("int")
        return value

    return check


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise ValueError("bool")
    return value


def _created_at(value: Any) -> datetime:
    parsed = datetime.fromisoformat(value) if type(value) is str else None
    # Only the spelling encode() gives (fromisoformat takes stray characters after an offset).
    if parsed is None or parsed.tzinfo is None or parsed.isoformat() != value:
        raise ValueError("created_at")
    return parsed


def _due_date(value: Any) -> date | None:
    if value is None:
        return None
    parsed = date.fromisoformat(value) if type(value) is str else None
    if parsed is None or parsed.isoformat() != value:
        raise ValueError("due_date")
    return parsed


# The sort column's value from a token, as its column holds it; ValueError when it cannot be.
_TYPED: dict[str, Callable[[Any], Any]] = {
    "id": _int(1, INT32),
    "title": _title,
    "priority": _int(1, len(rules.PRIORITIES)),
    "completed": _bool,
    "created_at": _created_at,
    "due_date": _due_date,
}


def _not_a_cursor() -> InvalidArgument:
    return InvalidArgument.for_field("page_token", "is not a page token of this service")


def decode(values: list[Any], query: ListQuery) -> Cursor:
    """The cursor in a token's `values`, which must have been made for `query`."""
    version, made_for, position, last_value, last_id = values
    if version != VERSION or type(position) is not int or type(last_id) is not int:
        raise _not_a_cursor()
    if made_for != fingerprint(query):
        raise InvalidArgument.for_field("page_token", "was made for other filters or another order")
    try:
        if not (0 <= position <= INT32 and 0 <= last_id <= INT32):
            raise ValueError("range")
        last_value = _TYPED[query.sort_by](last_value)
    except (ValueError, TypeError, KeyError):
        raise _not_a_cursor() from None
    return Cursor(query=made_for, position=position, last_value=last_value, last_id=last_id)
