"""The use cases of auth against the in-memory unit of work (tests/conftest.py): registration and
its event, login and its token, the refusals made before any lookup or hashing, user lookups."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from taskmanager.auth.v1 import auth_pb2
from taskmanager.events.v1 import events_pb2 as pb
from tm_auth.service import accounts
from tm_common.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from tm_common.tokens import TokenVerifier

PASSWORD = "correct horse"
ADDRESS = "198.51.100.1"


async def test_register_stores_the_user_hashed_and_commits_user_registered(fake) -> None:
    user = await accounts.register(fake.deps, "  alice ", "Alice@Example.COM", PASSWORD)
    assert (user.username, user.email) == ("alice", "alice@example.com")
    stored, password_hash = fake.state.users[user.id]
    assert stored == user
    assert PASSWORD not in password_hash and await fake.hasher.verify(password_hash, PASSWORD)
    [event] = fake.events()
    assert (event.type, event.producer, event.actor_user_id, event.actor_username) == (
        "user.registered", "auth", user.id, "alice",
    )  # fmt: skip
    registered = event.user_registered
    assert (registered.user_id, registered.username, registered.email) == (user.id, "alice", user.email)
    assert registered.created_at.ToDatetime().timestamp() == pytest.approx(
        user.created_at.timestamp(), abs=1e-6
    )


def test_the_event_reads_the_api_message_of_a_user_field_for_field() -> None:
    """user_registered recasts auth.v1 User: every field number must mean the same in both."""
    api = {f.number: (f.type, f.is_repeated) for f in auth_pb2.User.DESCRIPTOR.fields}
    event = {f.number: (f.type, f.is_repeated) for f in pb.UserRegistered.DESCRIPTOR.fields}
    assert api == event


async def test_an_invalid_registration_is_refused_before_hashing(fake) -> None:
    with pytest.raises(InvalidArgument) as error:
        await accounts.register(fake.deps, "x", "nope", "short")
    assert set(error.value.fields) == {"username", "email", "password"}
    assert (fake.hasher.hashed, fake.units, fake.state.users, fake.events()) == (0, [], {}, [])


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [
        ("ALICE", "other@example.com", "username"),
        ("other", "ALICE@example.com", "email"),
        ("Alice", "alice@EXAMPLE.com", "username"),  # both taken: the username is named
    ],
)
async def test_a_taken_username_or_email_in_any_case_already_exists(fake, username, email, field) -> None:
    alice = fake.user("alice")
    with pytest.raises(AlreadyExists, match=f"^{field} is already registered$"):
        await accounts.register(fake.deps, username, email, PASSWORD)
    assert list(fake.state.users) == [alice.id]
    assert fake.events() == []


async def test_losing_a_race_to_the_same_name_commits_nothing(fake) -> None:
    """The check passes, then a concurrent registration takes the name: the unique index refuses
    the insert, and the unit of work rolls back with no event."""
    alice = fake.user("alice")
    open_unit = fake.deps.uow

    async def nothing_taken(username: str, email: str) -> None:  # checked before the other committed
        return None

    def racing(read_only: bool = False):
        unit = open_unit(read_only)
        unit.users.taken = nothing_taken
        return unit

    fake.deps.uow = racing
    with pytest.raises(AlreadyExists, match=r"^username is already registered$"):
        await accounts.register(fake.deps, "ALICE", "new@example.com", PASSWORD)
    assert list(fake.state.users) == [alice.id]
    assert fake.events() == []


async def test_login_signs_a_token_that_names_the_user_for_its_audience(fake) -> None:
    alice = fake.user("alice")
    token = await accounts.login(fake.deps, "alice", PASSWORD, ADDRESS)
    assert token.expires_in == fake.settings.access_token_ttl_seconds == 900

    async def jwks() -> list[dict[str, str]]:
        return fake.keys.jwks()

    principal = await TokenVerifier(jwks, issuer="tests-issuer", audience="tests-audience").verify(
        token.access_token
    )
    assert (principal.user_id, principal.username) == (alice.id, "alice")
    claims = _claims(token.access_token)
    assert (claims["sub"], claims["iss"], claims["aud"]) == (str(alice.id), "tests-issuer", "tests-audience")
    assert claims["exp"] - claims["iat"] == 900
    assert fake.events() == []  # a login changes nothing another service hears of


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def test_the_login_name_is_found_in_any_case_and_trimmed(fake) -> None:
    alice = fake.user("Alice")
    token = await accounts.login(fake.deps, "  aLICE ", PASSWORD, ADDRESS)
    assert _claims(token.access_token)["username"] == "Alice"
    assert _claims(token.access_token)["sub"] == str(alice.id)


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong password"), ("ghost", PASSWORD)])
async def test_a_wrong_password_and_an_unknown_user_are_refused_alike(fake, username, password) -> None:
    fake.user("alice")
    with pytest.raises(Unauthenticated, match=r"^incorrect username or password$"):
        await accounts.login(fake.deps, username, password, ADDRESS)
    assert fake.hasher.verified == 1  # an unknown user costs a verification too (the same time)


@pytest.mark.parametrize(
    ("username", "password", "fields"),
    [("", PASSWORD, {"username"}), ("alice", "", {"password"}), ("", "", {"username", "password"})],
)
async def test_missing_credentials_are_invalid(fake, username, password, fields) -> None:
    with pytest.raises(InvalidArgument) as error:
        await accounts.login(fake.deps, username, password, ADDRESS)
    assert set(error.value.fields) == fields
    assert (fake.limiter.hits, fake.units, fake.hasher.verified) == ({}, [], 0)


@pytest.mark.parametrize(
    ("username", "password"),
    [("a" * 51, PASSWORD), ("alice", "p" * 101), ("ali\x00ce", PASSWORD), ("alice", "p" * 30_000_000)],
)
async def test_credentials_no_account_can_have_are_refused_before_counting_reading_or_hashing(
    fake, username, password
) -> None:
    fake.user("alice")
    with pytest.raises(Unauthenticated, match=r"^incorrect username or password$"):
        await accounts.login(fake.deps, username, password, ADDRESS)
    assert (fake.limiter.hits, fake.units, fake.hasher.verified, fake.hasher.hashed) == ({}, [], 0, 0)


async def test_a_hash_of_older_parameters_is_replaced_at_login(fake) -> None:
    alice = fake.user("alice", version="fake-v1")
    old = fake.password_hash(alice)
    await accounts.login(fake.deps, "alice", PASSWORD, ADDRESS)
    new = fake.password_hash(alice)
    assert new != old and not fake.hasher.needs_rehash(new)
    assert await fake.hasher.verify(new, PASSWORD)
    assert [unit.read_only for unit in fake.units] == [True, False]
    with pytest.raises(Unauthenticated):  # and a wrong password does not rehash
        await accounts.login(fake.deps, "alice", "wrong password", ADDRESS)
    assert fake.password_hash(alice) == new


async def test_a_current_hash_is_left_alone(fake) -> None:
    alice = fake.user("alice")
    before = fake.password_hash(alice)
    await accounts.login(fake.deps, "alice", PASSWORD, ADDRESS)
    assert fake.password_hash(alice) == before
    assert (fake.hasher.hashed, [unit.read_only for unit in fake.units]) == (0, [True])


async def test_get_user_by_id(fake) -> None:
    alice = fake.user("alice")
    assert await accounts.get_user(fake.deps, alice.id) == alice
    with pytest.raises(NotFound, match="user 999 not found"):
        await accounts.get_user(fake.deps, 999)
    assert all(unit.read_only for unit in fake.units)


async def test_get_user_by_username_in_any_case(fake) -> None:
    alice = fake.user("Alice")
    assert await accounts.get_user_by_username(fake.deps, " aLiCe ") == alice
    with pytest.raises(NotFound, match="'bob' not found"):
        await accounts.get_user_by_username(fake.deps, "bob")
    assert all(unit.read_only for unit in fake.units)


@pytest.mark.parametrize("username", ["a" * 51, "ali\x00ce"])
async def test_a_username_no_account_can_have_is_not_found_without_a_lookup(fake, username) -> None:
    with pytest.raises(NotFound, match=r"^user not found$"):
        await accounts.get_user_by_username(fake.deps, username)
    assert fake.units == []


async def test_batch_get_users_returns_those_that_exist(fake) -> None:
    ann, bob = fake.user("ann"), fake.user("bob")
    found = await accounts.batch_get_users(fake.deps, [bob.id, 999, ann.id, bob.id])
    assert sorted(u.id for u in found) == [ann.id, bob.id]
    assert await accounts.batch_get_users(fake.deps, []) == []
    assert len(fake.units) == 1 and fake.units[0].read_only  # none for no ids
    assert await accounts.batch_get_users(fake.deps, list(range(1, accounts.MAX_BATCH + 1))) == [ann, bob]


async def test_batch_get_users_takes_at_most_1000_ids(fake) -> None:
    with pytest.raises(InvalidArgument, match="ids"):
        await accounts.batch_get_users(fake.deps, list(range(accounts.MAX_BATCH + 1)))
    assert fake.units == []
