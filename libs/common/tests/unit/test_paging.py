import pytest

from tm_common.errors import InvalidArgument
from tm_common.paging import decode_token, encode_token


def test_round_trip() -> None:
    values = ["fingerprint", "2026-11-26T18:00:00+00:00", 42]
    token = encode_token(values)
    assert "=" not in token
    assert decode_token(token, 3) == values


@pytest.mark.parametrize(
    "token", ["", "%%%", "bm90IGpzb24", encode_token([1, 2]), encode_token({"a": 1}), "\xff"]
)
def test_anything_else_is_a_400_naming_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        decode_token(token, 3)
    assert set(refused.value.fields) == {"page_token"}
