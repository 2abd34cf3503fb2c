"""Opaque page tokens for keyset paging: the next page starts after the last row's (sort value,
id), so rows inserted meanwhile never shift a page and no row is seen twice or skipped.

A token is bound to its query (filters and order) by a fingerprint, and carries how many rows
came before the next page, so that `page` stays right. It is not a secret: it only ever selects
among the caller's own tasks, so it is encoded, not signed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from tm_common.errors import InvalidArgument
from tm_common.paging import decode_token, encode_token

if TYPE_CHECKING:
    from tm_tasks.domain.listing import ListQuery

VERSION = 1


@dataclass(frozen=True)
class Cursor:
    query: str  # fingerprint of the filters and order it was made for
    position: int  # rows before the page it starts
    last_value: Any  # the sort column's value in the last row returned (as stored)
    last_id: int


def fingerprint(query: ListQuery) -> str:
    shape = dataclasses.asdict(dataclasses.replace(query, skip=0, limit=1, after=None))
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode(cursor: Cursor) -> str:
    value = cursor.last_value
    value = value.isoformat() if isinstance(value, date | datetime) else value
    return encode_token([VERSION, cursor.query, cursor.position, value, cursor.last_id])


INT32 = 2**31 - 1


def _typed(sort_by: str, value: Any) -> Any:
    """The sort column's value from a token, as its column holds it; ValueError when it cannot be."""
    if sort_by == "due_date" and value is None:
        return None
    kinds: dict[str, type] = {"id": int, "title": str, "priority": int, "completed": bool}
    if sort_by in kinds:
        if type(value) is not kinds[sort_by]:  # bool is an int, but not the other way round here
            raise ValueError(sort_by)
        return value
    if not isinstance(value, str):
        raise ValueError(sort_by)
    return datetime.fromisoformat(value) if sort_by == "created_at" else date.fromisoformat(value)


def decode(token: str, query: ListQuery) -> Cursor:
    """The cursor in `token`, which must have been made for `query`. Tokens are not signed: all
    they can select is the caller's own tasks, so anything malformed is simply a 400."""
    version, made_for, position, last_value, last_id = decode_token(token, 5)
    try:
        if version != VERSION or type(position) is not int or type(last_id) is not int:
            raise ValueError("shape")
        if not (0 <= position <= INT32 and 0 <= last_id <= INT32):
            raise ValueError("range")
        last_value = _typed(query.sort_by, last_value)
    except (ValueError, TypeError):
        raise InvalidArgument.for_field("page_token", "is not a page token of this service") from None
    if made_for != fingerprint(query):
        raise InvalidArgument.for_field("page_token", "was made for other filters or another order")
    return Cursor(query=made_for, position=position, last_value=last_value, last_id=last_id)
