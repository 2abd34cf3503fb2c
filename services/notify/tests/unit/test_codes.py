"""Verification codes: random, kept as an HMAC bound to the user, checked in a fixed order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tm_common.errors import InvalidArgument
from tm_notify.domain.codes import PendingCode, Verdict, check, digest, given_code, new_code

KEY = b"k" * 32
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_codes_are_six_random_digits() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert len(codes) > 190


def test_the_digest_depends_on_the_key_the_user_and_the_code() -> None:
    base = digest(KEY, 1, "123456")
    assert len(base) == 32 and b"123456" not in base
    assert base == digest(KEY, 1, "123456")
    assert base != digest(b"other-key", 1, "123456")
    assert base != digest(KEY, 2, "123456")
    assert base != digest(KEY, 1, "123457")


@pytest.mark.parametrize(
    ("typed", "code"), [("123456", "123456"), (" 123 456 ", "123456"), ("123-456", "123456")]
)
def test_spaces_and_dashes_are_forgiven(typed: str, code: str) -> None:
    assert given_code(typed) == code


@pytest.mark.parametrize(
    "typed", ["", "   ", "12345", "1234567", "12a456", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_anything_but_six_digits_is_a_400_naming_code(typed: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        given_code(typed)
    assert set(refused.value.fields) == {"code"}


def pending(**changes) -> PendingCode:
    values = {
        "digest": digest(KEY, 1, "123456"),
        "email": "ann@example.com",
        "expires_at": NOW + timedelta(minutes=15),
        "attempts": 0,
        "used_at": None,
        **changes,
    }
    return PendingCode(**values)


RIGHT, WRONG = digest(KEY, 1, "123456"), digest(KEY, 1, "654321")


@pytest.mark.parametrize(
    ("code", "given", "verdict"),
    [
        pytest.param(pending(), RIGHT, Verdict.OK, id="right"),
        pytest.param(pending(attempts=4), RIGHT, Verdict.OK, id="right-after-four-wrong"),
        pytest.param(pending(), WRONG, Verdict.WRONG, id="wrong"),
        pytest.param(None, RIGHT, Verdict.NO_CODE, id="none-sent"),
        pytest.param(pending(used_at=NOW), RIGHT, Verdict.USED, id="used"),
        pytest.param(pending(attempts=5), RIGHT, Verdict.LOCKED, id="five-wrong"),
        pytest.param(pending(expires_at=NOW), RIGHT, Verdict.EXPIRED, id="expires-now"),
        pytest.param(pending(expires_at=NOW - timedelta(seconds=1)), WRONG, Verdict.EXPIRED, id="expired"),
    ],
)
def test_check(code: PendingCode | None, given: bytes, verdict: Verdict) -> None:
    assert check(code, given, NOW, max_attempts=5) is verdict
