import base64
import logging

import pytest

from tm_common.config import ServiceSettings
from tm_common.errors import InvalidArgument
from tm_common.paging import MAX_TOKEN_CHARS, TAG_BYTES, PageTokens, page_tokens

KEY = b"unit-test-page-token-key"
SCOPE = ("ListThings", 7)
VALUES = ["fingerprint", "2026-11-26T18:00:00+00:00", 42, "caf\u00e9 \U0001f600"]
tokens = PageTokens(KEY)


def raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def spelled(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def assert_refused(token: str, scope: tuple[str | int, ...] = SCOPE, length: int = len(VALUES)) -> None:
    with pytest.raises(InvalidArgument) as refused:
        tokens.read(scope, token, length)
    # The same words for every fault, and never the token itself.
    assert refused.value.fields == {"page_token": "is not a page token of this service"}
    assert str(refused.value) == "page_token: is not a page token of this service"


def test_round_trip() -> None:
    token = tokens.make(SCOPE, VALUES)
    assert "=" not in token and token.isascii()
    assert tokens.read(SCOPE, token, len(VALUES)) == VALUES


def test_a_token_is_compact() -> None:
    token = tokens.make(SCOPE, [123456])
    assert len(raw(token)) == len(b"[123456]") + TAG_BYTES
    assert len(token) <= 32


def test_a_tampered_payload_is_refused() -> None:
    data = raw(tokens.make(SCOPE, [41]))
    assert data.startswith(b"[41]")
    assert_refused(spelled(b"[42]" + data[4:]), length=1)


def test_a_tampered_tag_is_refused() -> None:
    data = raw(tokens.make(SCOPE, VALUES))
    for position in (len(data) - TAG_BYTES, len(data) - 1):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        assert_refused(spelled(bytes(flipped)))


def test_a_token_without_a_tag_is_refused() -> None:
    # What tokens were before they had a tag: the JSON alone.
    assert_refused(spelled(b'["fingerprint","2026-11-26T18:00:00+00:00",42,"x"]'))


@pytest.mark.parametrize("cut", [1, TAG_BYTES, TAG_BYTES + 1])
def test_a_truncated_token_is_refused(cut: int) -> None:
    data = raw(tokens.make(SCOPE, VALUES))
    assert_refused(spelled(data[:-cut]))
    assert_refused(tokens.make(SCOPE, VALUES)[:-cut])


def test_a_token_made_under_another_key_is_refused() -> None:
    assert_refused(PageTokens(b"another-key-of-16-chars").make(SCOPE, VALUES))


@pytest.mark.parametrize(
    "scope", [("ListThings", 8), ("ListOtherThings", 7), ("ListThings", 7, 1), ("ListThings",)]
)
def test_a_token_for_another_caller_or_route_is_refused(scope: tuple[str | int, ...]) -> None:
    assert_refused(tokens.make(scope, VALUES))


def test_scopes_cannot_be_confused_by_how_they_are_split() -> None:
    assert_refused(tokens.make(("ListThings", "7"), VALUES))  # the string "7" is not the user 7


@pytest.mark.parametrize(
    "token",
    ["", "%%%", "\xff", "a", "bm90IGpzb24", "x" * (MAX_TOKEN_CHARS + 1), " " + tokens.make(SCOPE, VALUES)],
)
def test_anything_else_is_a_400_naming_page_token(token: str) -> None:
    assert_refused(token)


def test_only_the_canonical_spelling_is_read() -> None:
    token = tokens.make(SCOPE, VALUES)
    assert_refused(token + "=")
    assert_refused(token + "!!")
    assert_refused(token[:5] + "\n" + token[5:])


def test_spare_bits_do_not_make_a_second_spelling() -> None:
    token = tokens.make(SCOPE, [1])  # 3 + 16 bytes: the last character carries 2 spare bits
    assert len(raw(token)) % 3 == 1
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    assert_refused(token[:-1] + alphabet[last | 1], length=1)


def test_a_well_tagged_token_of_the_wrong_shape_is_refused() -> None:
    assert_refused(tokens.make(SCOPE, [1, 2]), length=3)
    with pytest.raises(InvalidArgument):
        tokens.read(SCOPE, PageTokens(KEY).make(SCOPE, {"a": 1}), 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1, 2**31, True, "7", 1.5, None])
def test_id_tokens_hold_a_positive_int32(value: object) -> None:
    with pytest.raises(InvalidArgument):
        tokens.after_id(SCOPE, tokens.make(SCOPE, [value]))


def test_id_tokens_round_trip() -> None:
    assert tokens.id_token(SCOPE, 0) == ""
    assert tokens.after_id(SCOPE, "") == 0
    assert tokens.after_id(SCOPE, tokens.id_token(SCOPE, 2**31 - 1)) == 2**31 - 1
    with pytest.raises(InvalidArgument):
        tokens.after_id(("ListOtherThings", 7), tokens.id_token(SCOPE, 5))


def test_the_secret_setting() -> None:
    shared = ServiceSettings(page_token_secret="0123456789abcdef")
    made = page_tokens(shared).make(SCOPE, VALUES)
    assert page_tokens(shared).read(SCOPE, made, len(VALUES)) == VALUES  # another instance reads it
    assert "0123456789abcdef" not in repr(shared)
    with pytest.raises(ValueError, match="PAGE_TOKEN_SECRET"):
        page_tokens(ServiceSettings(page_token_secret="too-short"))


def test_without_a_secret_each_process_has_its_own_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        unset = ServiceSettings(page_token_secret="")
        first, second = page_tokens(unset), page_tokens(unset)
    assert "PAGE_TOKEN_SECRET is not set" in caplog.text
    with pytest.raises(InvalidArgument):
        second.read(SCOPE, first.make(SCOPE, VALUES), len(VALUES))
