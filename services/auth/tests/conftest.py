"""In-memory fakes of the auth service's unit of work, user repository, password hasher and login
counters, with the same behaviour as the real ones where the use cases can tell (tests/adapters
checks the SQL side against a real Postgres). The `fake` fixture gives a fresh service to call use
cases on; tokens are signed by a real key ring (Ed25519 signs in microseconds)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.fakes import FakeUnitOfWork
from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_auth.adapters.signing import KeyRing
from tm_auth.config import AuthSettings
from tm_auth.domain.accounts import User
from tm_auth.service.accounts import AuthDeps
from tm_auth.service.login_limits import LoginLimits
from tm_common.errors import AlreadyExists, RateLimited
from tm_common.ratelimit import Limit

SETTINGS = {
    "login_limit_per_address": 6,
    "login_limit_per_username_address": 3,
    "login_limit_per_username": 4,
    "access_token_ttl_seconds": 900,
    "jwt_issuer": "tests-issuer",
    "jwt_audience": "tests-audience",
}


@dataclass
class AuthState:
    users: dict[int, tuple[User, str]] = field(default_factory=dict)  # id -> (user, password hash)
    outbox: list[EventEnvelope] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # like the serial: no reuse

    def copy(self) -> AuthState:
        return dataclasses.replace(self, users=dict(self.users))

    def replace_with(self, other: AuthState) -> None:
        self.users = other.users


class FakeUserRepository:
    def __init__(self, work: AuthState) -> None:
        self.work = work

    def _named(self, username: str) -> tuple[User, str] | None:
        return next((u for u in self.work.users.values() if u[0].username.lower() == username.lower()), None)

    def _taken(self, username: str, email: str) -> str | None:
        if self._named(username) is not None:
            return "username"
        return "email" if any(u.email.lower() == email.lower() for u, _ in self.work.users.values()) else None

    async def taken(self, username: str, email: str) -> str | None:
        return self._taken(username, email)

    async def add(self, username: str, email: str, password_hash: str) -> User:
        taken = self._taken(username, email)  # the unique indexes
        if taken is not None:
            raise AlreadyExists(f"{taken} is already registered")
        user = User(next(self.work.ids), username, email, datetime.now(UTC))
        self.work.users[user.id] = (user, password_hash)
        return user

    async def credentials(self, username: str) -> tuple[User, str] | None:
        return self._named(username)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self.work.users[user_id] = (self.work.users[user_id][0], password_hash)

    async def get(self, user_id: int) -> User | None:
        found = self.work.users.get(user_id)
        return None if found is None else found[0]

    async def by_username(self, username: str) -> User | None:
        found = self._named(username)
        return None if found is None else found[0]

    async def get_many(self, user_ids: Sequence[int]) -> list[User]:
        return [self.work.users[i][0] for i in sorted(set(user_ids)) if i in self.work.users]


class FakeAuthUnitOfWork(FakeUnitOfWork):
    def bind(self, work: AuthState) -> None:
        self.users = FakeUserRepository(work)


class FakeHasher:
    """Salted SHA-256 under a version tag: fast, but a wrong password never verifies. Hashes of
    an older version verify and need a rehash, as argon2's do when its parameters change."""

    VERSION = "fake-v2"

    def __init__(self) -> None:
        self.hashed = 0
        self.verified = 0

    def make(self, password: str, version: str = VERSION) -> str:
        salt = secrets.token_hex(8)
        return f"{version}${salt}${self._digest(salt, password)}"

    async def hash(self, password: str) -> str:
        self.hashed += 1
        return self.make(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verified += 1  # for an unknown user too: the real one verifies a decoy
        if password_hash is None:
            return False
        _, salt, digest = password_hash.split("$")
        return secrets.compare_digest(digest, self._digest(salt, password))

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"{self.VERSION}$")

    @staticmethod
    def _digest(salt: str, password: str) -> str:
        return hashlib.sha256(f"{salt}\n{password}".encode()).hexdigest()


class FakeLimiter:
    """Counts hits per (limit, key) in one endless window."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, str], int] = {}

    async def hit(self, limit: Limit, key: str) -> None:
        count = self.hits[limit.name, key] = self.hits.get((limit.name, key), 0) + 1
        if count > limit.max_hits:
            raise RateLimited("too many attempts", retry_after_seconds=limit.window_seconds)

    async def reset(self, limit: Limit, key: str) -> None:
        self.hits.pop((limit.name, key), None)

    def count(self, limit_name: str) -> int:
        """Hits on every key of one limit."""
        return sum(n for (name, _), n in self.hits.items() if name == limit_name)


class FakeKnownAddresses:
    def __init__(self) -> None:
        self.pairs: set[str] = set()

    async def contains(self, pair: str) -> bool:
        return pair in self.pairs

    async def remember(self, pair: str) -> None:
        self.pairs.add(pair)


@pytest.fixture(scope="session")
def key_ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return KeyRing.from_directory(Path(tmp_path_factory.mktemp("jwt")), generate=True)


@dataclass
class FakeAuth:
    """An auth service in memory: its state, its dependencies, and ways to set a scene."""

    keys: KeyRing
    state: AuthState = field(default_factory=AuthState)

    def __post_init__(self) -> None:
        self.settings = AuthSettings(**SETTINGS)  # type: ignore[arg-type]
        self.hasher = FakeHasher()
        self.limiter = FakeLimiter()
        self.known = FakeKnownAddresses()
        self.units: list[FakeAuthUnitOfWork] = []

        def open_unit(read_only: bool = False) -> FakeAuthUnitOfWork:
            unit = FakeAuthUnitOfWork(self.state, read_only)
            self.units.append(unit)
            return unit

        self.deps = AuthDeps(
            settings=self.settings,
            uow=open_unit,
            hasher=self.hasher,
            keys=self.keys,
            login_limits=LoginLimits(self.settings, self.limiter, self.known),
        )

    def user(self, username: str, password: str = "correct horse", version: str = FakeHasher.VERSION) -> User:
        """A user stored as if registered (without its event or the hasher's count)."""
        user = User(next(self.state.ids), username, f"{username.lower()}@example.com", datetime.now(UTC))
        self.state.users[user.id] = (user, self.hasher.make(password, version))
        return user

    def password_hash(self, user: User) -> str:
        return self.state.users[user.id][1]

    def events(self) -> list[EventEnvelope]:
        """The events committed so far, oldest first."""
        return list(self.state.outbox)


@pytest.fixture
def fake(key_ring: KeyRing) -> FakeAuth:
    return FakeAuth(key_ring)
