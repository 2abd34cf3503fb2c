"""Use cases of the auth service: one function each, given the service's dependencies."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tm_auth.adapters import events
from tm_auth.config import AuthSettings
from tm_auth.domain.accounts import User, may_be_credentials, validate_registration
from tm_auth.service.login_limits import LoginLimits
from tm_auth.service.unit_of_work import PasswordHasher, TokenSigner, UnitOfWorkFactory
from tm_common.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from tm_common.limits import MAX_USERNAME

log = logging.getLogger(__name__)

MAX_BATCH = 1000


@dataclass
class AuthDeps:
    settings: AuthSettings
    uow: UnitOfWorkFactory  # a unit of work: users and their events in one transaction
    hasher: PasswordHasher
    keys: TokenSigner
    login_limits: LoginLimits


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


async def register(deps: AuthDeps, username: str, email: str, password: str) -> User:
    registration = validate_registration(username, email, password)
    # Hashed before the transaction: argon2 takes its time on purpose, holding no connection.
    password_hash = await deps.hasher.hash(registration.password)
    async with deps.uow() as uow:
        taken = await uow.users.taken(registration.username, registration.email)
        if taken is not None:
            raise AlreadyExists(f"{taken} is already registered")
        user = await uow.users.add(registration.username, registration.email, password_hash)
        uow.publish(events.user_registered(user))
        await uow.commit()
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
    async with deps.uow(read_only=True) as uow:
        found = await uow.users.credentials(username.strip())
    user, password_hash = found if found else (None, None)
    if not await deps.hasher.verify(password_hash, password) or user is None:
        raise Unauthenticated("incorrect username or password")
    await deps.login_limits.succeeded(username, client_address)
    if password_hash and deps.hasher.needs_rehash(password_hash):
        await _rehash(deps, user, password)
    return _token(deps, user)


async def _rehash(deps: AuthDeps, user: User, password: str) -> None:
    """Store the password again under the current hashing parameters (known only at login)."""
    password_hash = await deps.hasher.hash(password)
    async with deps.uow() as uow:
        await uow.users.set_password_hash(user.id, password_hash)
        await uow.commit()


def _token(deps: AuthDeps, user: User) -> IssuedToken:
    ttl = deps.settings.access_token_ttl_seconds
    claims = {
        "sub": str(user.id),
        "username": user.username,
        "iss": deps.settings.jwt_issuer,
        "aud": deps.settings.jwt_audience,
    }
    return IssuedToken(access_token=deps.keys.sign(claims, ttl), expires_in=ttl)


async def get_user(deps: AuthDeps, user_id: int) -> User:
    async with deps.uow(read_only=True) as uow:
        user = await uow.users.get(user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def get_user_by_username(deps: AuthDeps, username: str) -> User:
    if "\x00" in username or len(username) > MAX_USERNAME:  # no account can have it
        raise NotFound("user not found")
    async with deps.uow(read_only=True) as uow:
        user = await uow.users.by_username(username.strip())
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


async def batch_get_users(deps: AuthDeps, ids: list[int]) -> list[User]:
    if len(ids) > MAX_BATCH:
        raise InvalidArgument.for_field("ids", f"at most {MAX_BATCH} ids per call")
    if not ids:
        return []
    async with deps.uow(read_only=True) as uow:
        return await uow.users.get_many(ids)
