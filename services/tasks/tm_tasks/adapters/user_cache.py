"""Values derived from one user's tasks (stats, list totals), cached in Redis under the user's
stats version and the day. Every write bumps the version in its own transaction, so an entry
can never be stale; the day is in the key because `overdue` changes at midnight without a write.

An outage of Redis is logged and the caller computes from the database: the cache never fails
a request."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

TTL_SECONDS = 3600  # entries of old versions simply expire


class UserCache:
    def __init__(self, redis: Redis, prefix: str = "tasks:cache") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, user_id: int, version: int, day: date, name: str) -> str:
        return f"{self._prefix}:{user_id}:{version}:{day.isoformat()}:{name}"

    async def get(self, user_id: int, version: int, day: date, name: str) -> Any | None:
        try:
            raw = await self._redis.get(self._key(user_id, version, day, name))
        except RedisError as exc:
            log.warning("cache unavailable; reading the database", extra={"error": str(exc)})
            return None
        return None if raw is None else json.loads(raw)

    async def put(self, user_id: int, version: int, day: date, name: str, value: Any) -> None:
        try:
            await self._redis.set(self._key(user_id, version, day, name), json.dumps(value), ex=TTL_SECONDS)
        except RedisError as exc:
            log.warning("cache unavailable; not caching", extra={"error": str(exc)})
