"""Authenticated page tokens: base64url (unpadded) of a short JSON list followed by a 16-byte
HMAC-SHA256 tag. The tag covers the list and its scope (the route and the caller, never sent), so
a token that was edited, cut, made under another key, or made for another user or route is a 400
before a byte of it is parsed. The values are readable, not secret: nothing in them is private to
anyone but the caller. What a service reads from a token must still be checked like any input."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
from typing import Any

from tm_common.config import ServiceSettings
from tm_common.errors import InvalidArgument

log = logging.getLogger(__name__)

TAG_BYTES = 16  # 128 bits: forging one takes ~2**128 tries, each a request
MIN_SECRET_LENGTH = 16
# The largest token a service makes is under 1,700 characters (a 200-character title, escaped).
MAX_TOKEN_CHARS = 2048
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
INT32 = 2**31 - 1

# What a token is good for: the route first, then whatever else it is bound to (the caller's user
# id, the task...). Strings and ints only; never sent, only mixed into the tag.
Scope = tuple[str | int, ...]


def refused() -> InvalidArgument:
    # The same words for every fault, and never the token itself.
    return InvalidArgument.for_field("page_token", "is not a page token of this service")


class PageTokens:
    """Makes and reads the page tokens of one service under its key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _tag(self, scope: Scope, payload: bytes) -> bytes:
        bound = json.dumps(list(scope), separators=(",", ":")).encode()  # ASCII, never a newline
        return hmac.new(self._key, bound + b"\n" + payload, hashlib.sha256).digest()[:TAG_BYTES]

    def make(self, scope: Scope, values: list[Any]) -> str:
        payload = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
        return _b64encode(payload + self._tag(scope, payload))

    def read(self, scope: Scope, token: str, length: int) -> list[Any]:
        """The `length` values of a token made for `scope`; InvalidArgument naming page_token
        for anything else, checked in constant time before the values are parsed."""
        raw = _b64decode(token)
        payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        if not payload or not hmac.compare_digest(tag, self._tag(scope, payload)):
            raise refused()
        try:
            values = json.loads(payload)
        except (ValueError, RecursionError):  # only the key's holder could get here: still no 500
            raise refused() from None
        if not isinstance(values, list) or len(values) != length:
            raise refused()
        return values

    def id_token(self, scope: Scope, last_id: int) -> str:
        """The token of a page that ends at row `last_id` ("" when there is no next page)."""
        return self.make(scope, [last_id]) if last_id else ""

    def after_id(self, scope: Scope, token: str) -> int:
        """The last id of the previous page (0 for the first page)."""
        if not token:
            return 0
        (value,) = self.read(scope, token, 1)
        if type(value) is not int or not 0 < value <= INT32:
            raise refused()
        return value


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(token: str) -> bytes:
    """The bytes of a token in its one canonical spelling (the base64 decoder would skip stray
    characters and ignore spare bits, so that many strings would read as one token)."""
    if len(token) > MAX_TOKEN_CHARS or not BASE64URL.fullmatch(token):
        raise refused()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        raise refused() from None
    if len(raw) <= TAG_BYTES or _b64encode(raw) != token:
        raise refused()
    return raw


def page_tokens(settings: ServiceSettings) -> PageTokens:
    """The service's page tokens under PAGE_TOKEN_SECRET. Unset: a random key for this process,
    so that its tokens fail on other replicas and after a restart."""
    secret = settings.page_token_secret.get_secret_value()
    if not secret:
        log.warning(
            "PAGE_TOKEN_SECRET is not set: page tokens made by this process fail on other "
            "instances and after a restart"
        )
        return PageTokens(secrets.token_bytes(32))
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"PAGE_TOKEN_SECRET must be at least {MIN_SECRET_LENGTH} characters")
    return PageTokens(secret.encode())
