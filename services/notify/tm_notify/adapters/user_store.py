"""Our copy of the accounts and their preferences (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_notify.adapters.tables import preferences, users
from tm_notify.domain.preferences import SWITCHES, Preferences, defaults


@dataclass(frozen=True, slots=True)
class Contact:
    user_id: int
    username: str
    email: str
    preferences: Preferences


def _preferences(row: Any) -> Preferences:
    return Preferences(
        user_id=row.user_id,
        email_verified=row.email_verified,
        updated_at=row.updated_at,
        **{name: getattr(row, name) for name in SWITCHES},
    )


async def remember_user(conn: AsyncConnection, user_id: int, username: str, email: str) -> None:
    statement = pg_insert(users).values(user_id=user_id, username=username, email=email)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[users.c.user_id],
            set_={
                "username": statement.excluded.username,
                "email": statement.excluded.email,
                "updated_at": func.now(),
            },
        )
    )


async def user(conn: AsyncConnection, user_id: int) -> tuple[str, str] | None:
    """(username, email), if we know the user."""
    row = (
        await conn.execute(select(users.c.username, users.c.email).where(users.c.user_id == user_id))
    ).first()
    return None if row is None else (row.username, row.email)


async def create_defaults(conn: AsyncConnection, user_id: int) -> None:
    statement = pg_insert(preferences).values(user_id=user_id, **defaults(user_id))
    await conn.execute(statement.on_conflict_do_nothing(index_elements=[preferences.c.user_id]))


async def preferences_of(conn: AsyncConnection, user_id: int) -> Preferences:
    """The user's preferences, created with the defaults if they have none yet."""
    await create_defaults(conn, user_id)
    row = (await conn.execute(select(preferences).where(preferences.c.user_id == user_id))).one()
    return _preferences(row)


async def change(conn: AsyncConnection, user_id: int, changes: Mapping[str, bool]) -> Preferences:
    """Set some switches (in one statement, whether or not the user had a row)."""
    statement = pg_insert(preferences).values(
        user_id=user_id, **{**defaults(user_id), **changes}, updated_at=func.now()
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[preferences.c.user_id], set_={**changes, "updated_at": func.now()}
    )
    row = (await conn.execute(upsert.returning(*preferences.c))).one()
    return _preferences(row)


async def mark_verified(conn: AsyncConnection, user_id: int) -> None:
    statement = pg_insert(preferences).values(
        user_id=user_id, **{**defaults(user_id), "email_verified": True}, updated_at=func.now()
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[preferences.c.user_id], set_={"email_verified": True, "updated_at": func.now()}
        )
    )


async def contacts(conn: AsyncConnection, user_ids: Iterable[int]) -> list[Contact]:
    """The users among these whom we know, with their preferences (one query)."""
    ids = list(user_ids)
    if not ids:
        return []
    query = (
        select(users.c.username, users.c.email, preferences)
        .join(preferences, preferences.c.user_id == users.c.user_id)
        .where(users.c.user_id.in_(ids))
        .order_by(users.c.user_id)
    )
    return [
        Contact(user_id=row.user_id, username=row.username, email=row.email, preferences=_preferences(row))
        for row in await conn.execute(query)
    ]
