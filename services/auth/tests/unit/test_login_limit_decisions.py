"""The login limits' decisions (service/login_limits.py) through the login use case, on in-memory
counters (tests/conftest.py: 6 attempts per address, 3 per username and address until one
succeeds, 4 per username from addresses it never logged in from). Over real Redis and gRPC:
tests/integration/test_login_limits.py."""

from __future__ import annotations

import pytest

from tm_auth.service import accounts
from tm_common.errors import RateLimited, Unauthenticated

PASSWORD = "correct horse"
PER_ADDRESS, PER_PAIR, CEILING = 6, 3, 4


async def attempt(fake, username: str, address: str, password: str = PASSWORD) -> str:
    """ "ok", "wrong" or "limited"."""
    try:
        await accounts.login(fake.deps, username, password, address)
    except Unauthenticated:
        return "wrong"
    except RateLimited:
        return "limited"
    return "ok"


async def test_a_strangers_failures_fill_only_the_strangers_pair(fake) -> None:
    fake.user("alice")
    guesses = [await attempt(fake, "alice", "stranger", "wrong password") for _ in range(PER_PAIR)]
    assert guesses == ["wrong"] * PER_PAIR
    assert await attempt(fake, "alice", "stranger") == "limited"  # even with the right password
    assert await attempt(fake, "ALICE", "stranger") == "limited"  # the pair ignores case
    assert await attempt(fake, "alice", "home") == "ok"


async def test_a_limited_attempt_is_refused_before_the_password_is_verified(fake) -> None:
    fake.user("alice")
    for _ in range(PER_PAIR):
        await attempt(fake, "alice", "stranger", "wrong password")
    verified = fake.hasher.verified
    with pytest.raises(RateLimited) as limited:
        await accounts.login(fake.deps, "alice", PASSWORD, "stranger")
    assert fake.hasher.verified == verified
    assert limited.value.retry_after_seconds == fake.settings.login_limit_username_window_seconds


async def test_a_success_forgets_the_failures_of_its_pair(fake) -> None:
    fake.user("alice")
    for _ in range(PER_ADDRESS // PER_PAIR):
        for _ in range(PER_PAIR - 1):
            assert await attempt(fake, "alice", "home", "typo") == "wrong"
        assert await attempt(fake, "alice", "home") == "ok"


async def test_every_attempt_from_one_address_counts_whatever_the_name(fake) -> None:
    fake.user("alice")
    names = [f"nobody{i}" for i in range(PER_ADDRESS)]
    assert [await attempt(fake, name, "bot") for name in names] == ["wrong"] * PER_ADDRESS
    assert await attempt(fake, "alice", "bot") == "limited"
    assert await attempt(fake, "alice", "home") == "ok"  # other addresses are not


async def test_guesses_from_many_addresses_meet_a_ceiling_that_known_addresses_skip(fake) -> None:
    fake.user("alice")
    assert await attempt(fake, "alice", "home") == "ok"  # counted (not yet known), and now known
    spread = [await attempt(fake, "alice", f"bot{i}", "wrong password") for i in range(CEILING - 1)]
    assert spread == ["wrong"] * (CEILING - 1)
    assert await attempt(fake, "alice", "bot-last", "wrong password") == "limited"
    assert await attempt(fake, "alice", "home") == "ok"  # the owner's address skips the ceiling
    assert await attempt(fake, "alice", "cafe") == "limited"  # the price: a new address waits


async def test_counters_of_a_username_are_kept_under_digests_never_the_name(fake) -> None:
    """Whatever a client sends as a username never becomes part of a Redis key."""
    fake.user("alice")
    await attempt(fake, "alice", "stranger", "wrong password")
    await attempt(fake, "alice", "home")
    by_limit: dict[str, set[str]] = {}
    for name, key in fake.limiter.hits:
        by_limit.setdefault(name, set()).add(key)
    assert by_limit["login-addr"] == {"stranger", "home"}
    named = by_limit["login-user-addr"] | by_limit["login-user"] | fake.known.pairs
    # The two pairs (home's forgotten by the limiter on success, and remembered) and the name.
    assert len(named) == 3
    assert all(len(key) == 32 and "alice" not in key for key in named)
