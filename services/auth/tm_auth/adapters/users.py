"""Persistence of users (SQLAlchemy Core over an async connection)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_auth.adapters.tables import users
from tm_auth.domain.accounts import Registration, User
from tm_common.errors import AlreadyExists

_PUBLIC_COLUMNS = (users.c.id, users.c.username, users.c.email, users.c.created_at)


def _user(row: Row) -> User:
    return User(id=row.id, username=row.username, email=row.email, created_at=row.created_at)


async def insert(conn: AsyncConnection, registration: Registration, password_hash: str) -> User:
    """Insert a user; a taken username or email is AlreadyExists naming the field."""
    for field, column, value in (
        ("username", users.c.username, registration.username),
        ("email", users.c.email, registration.email),
    ):
        taken = await conn.scalar(select(users.c.id).where(func.lower(column) == value.lower()))
        if taken is not None:
            raise AlreadyExists(f"{field} is already registered")
    try:
        row = (
            await conn.execute(
                users.insert()
                .values(
                    username=registration.username,
                    email=registration.email,
                    password_hash=password_hash,
                )
                .returning(*_PUBLIC_COLUMNS)
            )
        ).one()
    except IntegrityError as exc:  # lost a race with a concurrent registration
        field = "email" if "email" in str(exc.orig) else "username"
        raise AlreadyExists(f"{field} is already registered") from exc
    return _user(row)


async def credentials(conn: AsyncConnection, username: str) -> tuple[User, str] | None:
    """The user and password hash for a login name (case-insensitive), if any."""
    row = (
        await conn.execute(
            select(*_PUBLIC_COLUMNS, users.c.password_hash).where(
                func.lower(users.c.username) == username.lower()
            )
        )
    ).one_or_none()
    return None if row is None else (_user(row), row.password_hash)


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))


async def by_id(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(select(*_PUBLIC_COLUMNS).where(users.c.id == user_id))).one_or_none()
    return None if row is None else _user(row)


async def by_username(conn: AsyncConnection, username: str) -> User | None:
    row = (
        await conn.execute(select(*_PUBLIC_COLUMNS).where(func.lower(users.c.username) == username.lower()))
    ).one_or_none()
    return None if row is None else _user(row)


async def by_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[User]:
    rows = await conn.execute(select(*_PUBLIC_COLUMNS).where(users.c.id.in_(list(ids))))
    return [_user(row) for row in rows]
