"""After Redis restarts, a service's client (tm_common.redis_client.connect) answers its next
commands on every pooled connection, instead of failing one command per connection it held."""

from __future__ import annotations

import asyncio

from tm_common import redis_client
from tm_common.config import ServiceSettings

POOLED = 6


async def test_every_pooled_connection_works_after_a_restart(redis_server) -> None:
    client = redis_client.connect(ServiceSettings(redis_url=redis_server.url))
    try:
        # Six connections in the pool at once: six commands in flight together.
        assert await asyncio.gather(*(client.ping() for _ in range(POOLED))) == [True] * POOLED
        redis_server.stop()
        redis_server.start()
        await asyncio.sleep(redis_client.HEALTH_CHECK_SECONDS + 0.5)  # idle past the interval
        results = await asyncio.gather(*(client.ping() for _ in range(POOLED)), return_exceptions=True)
        assert results == [True] * POOLED, [(type(r).__name__, str(r)) for r in results]
    finally:
        await client.aclose()
