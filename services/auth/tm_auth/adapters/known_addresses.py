"""The addresses each user logged in from recently: one Redis key per (username, address) pair,
expiring after a while. Like the rate limiter, it fails open: with Redis down nothing is known,
which only matters to a limiter that is letting everything through anyway."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class KnownAddresses:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    async def contains(self, pair: str) -> bool:
        try:
            return bool(await self._redis.exists(f"{self._prefix}:{pair}"))
        except RedisError:
            log.warning("known login addresses unavailable; treating the address as new")
            return False

    async def remember(self, pair: str) -> None:
        """Known from now until the TTL (each login starts it again)."""
        try:
            await self._redis.set(f"{self._prefix}:{pair}", b"1", ex=self._ttl)
        except RedisError:
            log.warning("known login addresses unavailable; address not remembered")
