"""Verification codes: one live code per user, stored as its HMAC, in a unit of work's
transaction (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tm_notify.adapters.tables import verification_codes
from tm_notify.domain.codes import PendingCode

codes = verification_codes.c


class CodeRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def replace(
        self, user_id: int, digest: bytes, email: str, now: datetime, expires_at: datetime
    ) -> None:
        """A new code for the user; whatever code they had before no longer works."""
        values = {
            "code_digest": digest,
            "email": email,
            "created_at": now,
            "expires_at": expires_at,
            "attempts": 0,
            "used_at": None,
        }
        statement = pg_insert(verification_codes).values(user_id=user_id, **values)
        await self._conn.execute(statement.on_conflict_do_update(index_elements=[codes.user_id], set_=values))

    async def locked(self, user_id: int) -> PendingCode | None:
        """The user's code, locked for this transaction (concurrent guesses queue up)."""
        query = select(verification_codes).where(codes.user_id == user_id).with_for_update()
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return PendingCode(
            digest=bytes(row.code_digest),
            email=row.email,
            expires_at=row.expires_at,
            attempts=row.attempts,
            used_at=row.used_at,
        )

    async def count_wrong_guess(self, user_id: int) -> None:
        await self._conn.execute(
            verification_codes.update().where(codes.user_id == user_id).values(attempts=codes.attempts + 1)
        )

    async def mark_used(self, user_id: int, now: datetime) -> None:
        await self._conn.execute(
            verification_codes.update().where(codes.user_id == user_id).values(used_at=now)
        )
