import pytest

from tm_auth.domain.accounts import may_be_credentials, validate_registration
from tm_common.errors import InvalidArgument


def test_valid_registration_is_normalised() -> None:
    registration = validate_registration("  alice_1 ", " Alice@Example.COM ", "password123")
    assert registration.username == "alice_1"
    assert registration.email == "alice@example.com"


@pytest.mark.parametrize(
    "username, email, password, fields",
    [
        ("al", "a@b.co", "password123", {"username"}),
        ("a" * 51, "a@b.co", "password123", {"username"}),
        ("bad name", "a@b.co", "password123", {"username"}),
        ("alice", "not-an-email", "password123", {"email"}),
        ("alice", "a@b", "password123", {"email"}),
        ("alice", "x" * 95 + "@b.com", "password123", {"email"}),
        ("alice", "a@b.co", "short", {"password"}),
        ("alice", "a@b.co", "p" * 101, {"password"}),
        ("", "", "", {"username", "email", "password"}),
    ],
)
def test_invalid_fields_are_all_named(username, email, password, fields) -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_registration(username, email, password)
    assert set(error.value.fields) == fields
    for field in fields:
        assert field in error.value.message


def test_boundaries_are_inclusive() -> None:
    validate_registration("abc", "a@b.co", "p" * 8)
    validate_registration("a" * 50, "x" * 94 + "@b.com", "p" * 100)


def test_a_login_no_account_can_match_is_known_before_any_lookup() -> None:
    assert may_be_credentials("alice", "correct horse")
    assert may_be_credentials("a" * 50, "p" * 100)
    assert not may_be_credentials("a" * 51, "correct horse")
    assert not may_be_credentials("alice", "p" * 101)
    assert not may_be_credentials("ali\x00ce", "correct horse")
