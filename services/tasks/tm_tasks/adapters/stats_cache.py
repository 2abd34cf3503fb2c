"""Task stats cached in Redis under (user, stats version, day): the day because `overdue`
changes at midnight without any write. An outage of Redis is logged and the
caller computes the stats from the database instead: the cache never fails a request."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import date

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tm_tasks.domain.stats import TaskStats

log = logging.getLogger(__name__)

TTL_SECONDS = 3600  # old versions simply expire


class StatsCache:
    def __init__(self, redis: Redis, prefix: str = "tasks:stats") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, user_id: int, version: int, day: date) -> str:
        return f"{self._prefix}:{user_id}:{version}:{day.isoformat()}"

    async def get(self, user_id: int, version: int, day: date) -> TaskStats | None:
        try:
            raw = await self._redis.get(self._key(user_id, version, day))
        except RedisError as exc:
            log.warning("stats cache unavailable; reading the database", extra={"error": str(exc)})
            return None
        return None if raw is None else TaskStats(**json.loads(raw))

    async def put(self, user_id: int, version: int, day: date, stats: TaskStats) -> None:
        try:
            key = self._key(user_id, version, day)
            await self._redis.set(key, json.dumps(asdict(stats)), ex=TTL_SECONDS)
        except RedisError as exc:
            log.warning("stats cache unavailable; not caching", extra={"error": str(exc)})
