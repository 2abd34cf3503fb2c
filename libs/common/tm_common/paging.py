"""Opaque page tokens: a short JSON list, base64url-encoded. Not signed: a service only ever
decodes a token to select among rows the caller may read anyway, so a forged one is just a 400."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from tm_common.errors import InvalidArgument


def encode_token(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, length: int) -> list[Any]:
    """The `length` values in `token`; InvalidArgument naming page_token for anything else."""
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        values = None
    if not isinstance(values, list) or len(values) != length:
        raise InvalidArgument.for_field("page_token", "is not a page token of this service")
    return values


def id_token(last_id: int) -> str:
    """The token of a page that ends at row `last_id` ("" when there is no next page)."""
    return encode_token([last_id]) if last_id else ""


def after_id(page_token: str) -> int:
    """The last id of the previous page (0 for the first page)."""
    if not page_token:
        return 0
    (value,) = decode_token(page_token, 1)
    if type(value) is not int or not 0 < value <= 2**31 - 1:
        raise InvalidArgument.for_field("page_token", "is not a page token of this service")
    return value
