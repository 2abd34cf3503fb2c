"""Fixed-window rate limiting in Redis: one atomic INCR+EXPIRE per attempt."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tm_common.errors import RateLimited
from tm_common.metrics import RATE_LIMIT_REFUSALS

log = logging.getLogger(__name__)

# INCR the window's counter, give it its expiry on first use, return count and remaining ttl.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('TTL', KEYS[1])}
"""


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int


class RateLimiter:
    """Counts hits per key; over the limit it raises RateLimited with the seconds to wait.

    If Redis is unreachable the limiter lets the request through and logs it: an outage of the
    limiter must not lock every user out.
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_HIT)

    async def hit(self, limit: Limit, key: str) -> None:
        try:
            count, ttl = await self._script(keys=[self._key(limit, key)], args=[limit.window_seconds])
        except RedisError:
            log.warning("rate limiter unavailable; allowing request", extra={"limit": limit.name})
            return
        if int(count) > limit.max_hits:
            RATE_LIMIT_REFUSALS.labels(limit.name).inc()
            raise RateLimited(
                f"too many attempts; try again in {max(int(ttl), 1)} seconds",
                retry_after_seconds=int(ttl) if int(ttl) > 0 else limit.window_seconds,
            )

    async def reset(self, limit: Limit, key: str) -> None:
        """Forget the key's hits in the current window (they turned out to be legitimate)."""
        try:
            await self._redis.delete(self._key(limit, key))
        except RedisError:
            log.warning("rate limiter unavailable; hits not reset", extra={"limit": limit.name})

    def _key(self, limit: Limit, key: str) -> str:
        return f"{self._prefix}:{limit.name}:{key}"
