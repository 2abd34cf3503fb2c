"""One-time email verification codes: made at random, kept only as an HMAC, checked here. Pure
apart from the random source."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from tm_common.errors import InvalidArgument

DIGITS = 6
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")  # ASCII only: \d also matches other scripts' digits


def new_code() -> str:
    return f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


def digest(key: bytes, user_id: int, code: str) -> bytes:
    """HMAC-SHA256 of the code, bound to its user: a stored digest is worthless without the key,
    and one user's digest never matches another user's code."""
    return hmac.new(key, f"{user_id}:{code}".encode(), hashlib.sha256).digest()


def given_code(code: str) -> str:
    """The code as typed (spaces and dashes around the digits are forgiven), or a 400."""
    cleaned = re.sub(r"[\s-]", "", code)
    if not cleaned:
        raise InvalidArgument.for_field("code", "is required")
    if not _CODE.fullmatch(cleaned):
        raise InvalidArgument.for_field("code", f"must be the {DIGITS}-digit code from the email")
    return cleaned


@dataclass(frozen=True, slots=True)
class PendingCode:
    digest: bytes
    email: str
    expires_at: datetime
    attempts: int  # wrong guesses so far
    used_at: datetime | None


class Verdict(enum.Enum):
    OK = "email verified"
    NO_CODE = "no verification code was sent: POST /notifications/subscribe first"
    USED = "this code was already used"
    LOCKED = "too many wrong codes: request a new one with POST /notifications/subscribe"
    EXPIRED = "the code has expired: request a new one with POST /notifications/subscribe"
    WRONG = "wrong code"


def check(code: PendingCode | None, given: bytes, now: datetime, max_attempts: int) -> Verdict:
    if code is None:
        return Verdict.NO_CODE
    if code.used_at is not None:
        return Verdict.USED
    if code.attempts >= max_attempts:
        return Verdict.LOCKED
    if now >= code.expires_at:
        return Verdict.EXPIRED
    if not hmac.compare_digest(code.digest, given):
        return Verdict.WRONG
    return Verdict.OK
