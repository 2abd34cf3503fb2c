"""Our copy of the accounts and their preferences, in a unit of work's transaction (SQLAlchemy
Core)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_notify.adapters.tables import preferences, users
from tm_notify.domain.preferences import SWITCHES, Preferences, defaults
from tm_notify.domain.users import Contact, User


def _preferences(row: Any) -> Preferences:
    return Preferences(
        user_id=row.user_id,
        email_verified=row.email_verified,
        updated_at=row.updated_at,
        **{name: getattr(row, name) for name in SWITCHES},
    )


class UserRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def remember(self, user: User) -> None:
        """Keep the account (a newer copy replaces ours)."""
        statement = pg_insert(users).values(user_id=user.user_id, username=user.username, email=user.email)
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[users.c.user_id],
                set_={
                    "username": statement.excluded.username,
                    "email": statement.excluded.email,
                    "updated_at": func.now(),
                },
            )
        )

    async def get(self, user_id: int) -> User | None:
        query = select(users.c.username, users.c.email).where(users.c.user_id == user_id)
        row = (await self._conn.execute(query)).first()
        return None if row is None else User(user_id, row.username, row.email)

    async def create_defaults(self, user_id: int) -> None:
        """The default preferences, unless the user has some already."""
        statement = pg_insert(preferences).values(user_id=user_id, **defaults(user_id))
        await self._conn.execute(statement.on_conflict_do_nothing(index_elements=[preferences.c.user_id]))

    async def preferences_of(self, user_id: int) -> Preferences:
        """The user's preferences, created with the defaults if they have none yet."""
        await self.create_defaults(user_id)
        query = select(preferences).where(preferences.c.user_id == user_id)
        return _preferences((await self._conn.execute(query)).one())

    async def change(self, user_id: int, changes: Mapping[str, bool]) -> Preferences:
        """Set some switches (in one statement, whether or not the user had a row)."""
        statement = pg_insert(preferences).values(
            user_id=user_id, **{**defaults(user_id), **changes}, updated_at=func.now()
        )
        upsert = statement.on_conflict_do_update(
            index_elements=[preferences.c.user_id], set_={**changes, "updated_at": func.now()}
        )
        return _preferences((await self._conn.execute(upsert.returning(*preferences.c))).one())

    async def mark_verified(self, user_id: int) -> None:
        statement = pg_insert(preferences).values(
            user_id=user_id, **{**defaults(user_id), "email_verified": True}, updated_at=func.now()
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[preferences.c.user_id],
                set_={"email_verified": True, "updated_at": func.now()},
            )
        )

    async def contacts(self, user_ids: Iterable[int]) -> list[Contact]:
        """The users among these whom we know, with their preferences, by id (one query)."""
        ids = list(user_ids)
        if not ids:
            return []
        query = (
            select(users.c.username, users.c.email, preferences)
            .join(preferences, preferences.c.user_id == users.c.user_id)
            .where(users.c.user_id.in_(ids))
            .order_by(users.c.user_id)
        )
        rows = await self._conn.execute(query)
        return [Contact(row.user_id, row.username, row.email, _preferences(row)) for row in rows]
