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
