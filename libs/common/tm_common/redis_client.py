"""The Redis client every service uses, with short timeouts: Redis is a cache and a limiter
here, and a slow Redis must not hold requests for long."""

from __future__ import annotations

from redis.asyncio import Redis

from tm_common.config import ServiceSettings


def connect(settings: ServiceSettings) -> Redis:
    return Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)


async def check(redis: Redis) -> None:
    await redis.ping()
