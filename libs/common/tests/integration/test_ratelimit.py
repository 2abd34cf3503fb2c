import pytest
from redis.asyncio import Redis

from support.accounts import unique
from tm_common.errors import RateLimited
from tm_common.ratelimit import Limit, RateLimiter


async def test_limit_allows_then_refuses_with_retry_after(stack) -> None:
    redis = Redis.from_url(stack.redis_url)
    limiter = RateLimiter(redis, prefix=unique("test"))
    limit = Limit("login", max_hits=3, window_seconds=30)
    for _ in range(3):
        await limiter.hit(limit, "alice")
    with pytest.raises(RateLimited) as refused:
        await limiter.hit(limit, "alice")
    assert 1 <= refused.value.retry_after_seconds <= 30
    await limiter.hit(limit, "bob")  # other keys are counted apart
    await redis.aclose()


async def test_reset_forgets_the_hits_of_a_key(stack) -> None:
    redis = Redis.from_url(stack.redis_url)
    limiter = RateLimiter(redis, prefix=unique("test"))
    limit = Limit("login", max_hits=2, window_seconds=30)
    for _ in range(2):
        await limiter.hit(limit, "alice")
    await limiter.reset(limit, "alice")
    for _ in range(2):
        await limiter.hit(limit, "alice")
    with pytest.raises(RateLimited):
        await limiter.hit(limit, "alice")
    await redis.aclose()


async def test_unreachable_redis_lets_requests_through() -> None:
    from tm_devstack.ports import free_port

    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    limiter = RateLimiter(redis, prefix="x")
    for _ in range(5):
        await limiter.hit(Limit("login", max_hits=1, window_seconds=30), "alice")
    await limiter.reset(Limit("login", max_hits=1, window_seconds=30), "alice")
    await redis.aclose()
