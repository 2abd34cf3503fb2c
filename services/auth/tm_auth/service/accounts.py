"""Use cases of the auth service: one function each, given the service's dependencies."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tm_auth.adapters import events, users
from tm_auth.adapters.passwords import PasswordHasher
from tm_auth.adapters.signing import KeyRing
from tm_auth.config import AuthSettings
from tm_auth.domain.accounts import User, may_be_credentials, validate_registration
from tm_auth.service.login_limits import LoginLimits
from tm_common import outbox
from tm_common.db import Database
from tm_common.errors import InvalidArgument, NotFound, Unauthenticated
from tm_common.limits import MAX_USERNAME

log = logging.getLogger(__name__)


@dataclass
class AuthDeps:
    settings: AuthSettings
    db: Database
    hasher: PasswordHasher
    keys: KeyRing
    login_limits: LoginLimits


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


async def register(deps: AuthDeps, username: str, email: str, password: str) -> User:
    registration = validate_registration(username, email, password)
    password_hash = await deps.hasher.hash(registration.password)
    async with deps.db.transaction() as conn:
        user = await users.insert(conn, registration, password_hash)
        await outbox.add(conn, events.user_registered(user))
    log.info("user registered", extra={"new_user_id": user.id})
    return user


async def login(deps: AuthDeps, username: str, password: str, client_address: str) -> IssuedToken:
    """A token for the right password, within the login limits (service.login_limits)."""
    if not username or not password:
        missing = {f: "is required" for f, v in (("username", username), ("password", password)) if not v}
        raise InvalidArgument("username and password are required", missing)
    if not may_be_credentials(username, password):
        raise Unauthenticated("incorrect username or password")
    await deps.login_limits.admit(username, client_address)
    async with deps.db.read() as conn:
        found = await users.credentials(conn, username.strip())
    user, password_hash = found if found else (None, None)
    if not await deps.hasher.verify(password_hash, password) or user is None:
        raise Unauthenticated("incorrect username or password")
    await deps.login_limits.succeeded(username, client_address)
    if password_hash and deps.hasher.needs_rehash(password_hash):
        async with deps.db.transaction() as conn:
            await users.set_password_hash(conn, user.id, await deps.hasher.hash(password))
    ttl = deps.settings.access_token_ttl_seconds
    claims = {
        "sub": str(user.id),
        "username": user.username,
        "iss": deps.settings.jwt_issuer,
        "aud": deps.settings.jwt_audience,
    }
    return IssuedToken(access_token=deps.keys.sign(claims, ttl), expires_in=ttl)


async def get_user(deps: AuthDeps, user_id: int) -> User:
    async with deps.db.read() as conn:
        user = await users.by_id(conn, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def get_user_by_username(deps: AuthDeps, username: str) -> User:
    if "\x00" in username or len(username) > MAX_USERNAME:  # no account can have it
        raise NotFound("user not found")
    async with deps.db.read() as conn:
        user = await users.by_username(conn, username.strip())
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


async def batch_get_users(deps: AuthDeps, ids: list[int]) -> list[User]:
    if len(ids) > 1000:
        raise InvalidArgument.for_field("ids", "at most 1000 ids per call")
    if not ids:
        return []
    async with deps.db.read() as conn:
        return await users.by_ids(conn, ids)
