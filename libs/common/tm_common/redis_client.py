"""The Redis client every service uses, with short timeouts: Redis is a cache and a limiter
here, and a slow Redis must not hold requests for long.

Its failed commands are counted in tm_redis_errors_total{operation=<command>}: the callers mostly
carry on without Redis (tm_common.ratelimit, the caches), so without the counter an outage would
show only as warnings in the logs.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, RedisError, ResponseError

from tm_common.config import ServiceSettings
from tm_common.metrics import REDIS_ERRORS


def _count(operation: str, exc: RedisError) -> None:
    # An error reply (BUSYGROUP, NOSCRIPT, WRONGTYPE) is Redis answering, not Redis failing: the
    # callers expect some of them, and a real one surfaces as a failed request.
    if not isinstance(exc, ResponseError):
        REDIS_ERRORS.labels(operation).inc()


class CountingPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        try:
            return await super().execute(raise_on_error)
        except RedisError as exc:
            _count("PIPELINE", exc)
            raise


class CountingRedis(Redis):
    """redis.asyncio.Redis that counts the commands that fail."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)
        except RedisError as exc:
            _count(str(args[0]).split(" ")[0].upper(), exc)
            raise

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return CountingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


# After Redis restarts every connection in the pool is dead, and each one failed its next command,
# the seldom used ones (a health check's) minutes later. Now a pooled connection idle for
# HEALTH_CHECK_SECONDS is pinged before it is used, and a command that meets a closed connection
# (ConnectionError only: not a timeout, after which Redis may have applied it) is sent once more on
# a new one. A command sent twice that way had reached a Redis that was going down: the consumers
# apply an event once whatever the stream holds (processed_events), a cache SET is idempotent, a
# rate-limit INCR counts one request twice at most.
HEALTH_CHECK_SECONDS = 5
ONE_RECONNECT = Retry(ExponentialBackoff(cap=0.5, base=0.05), 1, supported_errors=(ConnectionError,))


def connect(settings: ServiceSettings) -> Redis:
    return CountingRedis.from_url(
        settings.redis_url,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=ONE_RECONNECT,
    )


async def check(redis: Redis) -> None:
    await redis.ping()
