"""Persistence of users: UserRepository on a unit of work's connection (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_auth.adapters.tables import users
from tm_auth.domain.accounts import User
from tm_common.errors import AlreadyExists

_PUBLIC_COLUMNS = (users.c.id, users.c.username, users.c.email, users.c.created_at)


def _user(row: Any) -> User:
    return User(id=row.id, username=row.username, email=row.email, created_at=row.created_at)


class UserRepository:
    """Users in a unit of work's transaction (or its autocommit connection, for reads)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def taken(self, username: str, email: str) -> str | None:
        """Which of username and email (in that order) a user already has, in any case."""
        rows = await self._conn.execute(
            select(users.c.username, users.c.email)
            .where(
                or_(
                    func.lower(users.c.username) == username.lower(),
                    func.lower(users.c.email) == email.lower(),
                )
            )
            .limit(2)
        )
        found = rows.all()
        if any(row.username.lower() == username.lower() for row in found):
            return "username"
        return "email" if found else None

    async def add(self, username: str, email: str, password_hash: str) -> User:
        """A new user; a username or email taken meanwhile (a concurrent registration) is
        AlreadyExists naming the field, and leaves the transaction to be rolled back."""
        try:
            row = (
                await self._conn.execute(
                    users.insert()
                    .values(username=username, email=email, password_hash=password_hash)
                    .returning(*_PUBLIC_COLUMNS)
                )
            ).one()
        except IntegrityError as exc:
            field = "email" if "email" in str(exc.orig) else "username"
            raise AlreadyExists(f"{field} is already registered") from exc
        return _user(row)

    async def credentials(self, username: str) -> tuple[User, str] | None:
        """The user and password hash for a login name (case-insensitive), if any."""
        row = (
            await self._conn.execute(
                select(*_PUBLIC_COLUMNS, users.c.password_hash).where(
                    func.lower(users.c.username) == username.lower()
                )
            )
        ).one_or_none()
        return None if row is None else (_user(row), row.password_hash)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._conn.execute(
            users.update().where(users.c.id == user_id).values(password_hash=password_hash)
        )

    async def get(self, user_id: int) -> User | None:
        row = (await self._conn.execute(select(*_PUBLIC_COLUMNS).where(users.c.id == user_id))).one_or_none()
        return None if row is None else _user(row)

    async def by_username(self, username: str) -> User | None:
        row = (
            await self._conn.execute(
                select(*_PUBLIC_COLUMNS).where(func.lower(users.c.username) == username.lower())
            )
        ).one_or_none()
        return None if row is None else _user(row)

    async def get_many(self, user_ids: Sequence[int]) -> list[User]:
        rows = await self._conn.execute(select(*_PUBLIC_COLUMNS).where(users.c.id.in_(list(user_ids))))
        return [_user(row) for row in rows]
