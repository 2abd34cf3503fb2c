"""Samples a consumer group's backlog on its streams into the metrics (tm_consumer_lag and
tm_consumer_pending), every `CONSUMER_SAMPLE_SECONDS`, by a loop of its own: it keeps telling
while the consumer is stuck, and waits out Redis outages with backoff."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from tm_common import metrics
from tm_common.loops import every

CONSUMER_SAMPLE_SECONDS = 5.0
# The fallback count of undelivered entries stops here (it runs in Redis, which does nothing else
# meanwhile): a lag this high is reported as LAG_COUNT_CAP, far above any alert's threshold.
LAG_COUNT_CAP = 10_000
_COUNT_AFTER = "return #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])"


class ConsumerBacklog:
    """Samples one consumer group on each of its streams: entries not yet delivered to it (lag)
    and delivered but not acknowledged (pending), both from XINFO GROUPS."""

    def __init__(
        self, redis: Redis, group: str, streams: Sequence[str], seconds: float = CONSUMER_SAMPLE_SECONDS
    ) -> None:
        self._redis = redis
        self._group = group
        self._streams = list(streams)
        self._seconds = seconds
        self._count_after = redis.register_script(_COUNT_AFTER)

    async def run(self) -> None:
        await every("consumer metrics", self._seconds, self.sample)

    async def sample(self) -> None:
        for stream in self._streams:
            try:
                groups: Any = await self._redis.xinfo_groups(stream)
            except ResponseError as exc:
                if "no such key" in str(exc).lower():
                    continue  # the consumer has not created its stream and group yet
                raise
            for info in groups:
                if _str(info["name"]) == self._group:
                    lag = await self._lag(stream, info)
                    metrics.CONSUMER_GROUPS.record(stream, self._group, lag, int(info["pending"]))

    async def _lag(self, stream: str, info: dict[str, Any]) -> int:
        """Redis 7 keeps the lag; it is nil when it cannot tell (entries deleted after the group's
        last delivered one), and Redis 6.2 has none. Then the entries after the last delivered one
        are counted in Redis, which is exact (a deleted entry is no longer there to deliver) up to
        LAG_COUNT_CAP."""
        lag = info.get("lag")
        if lag is not None:
            return int(lag)
        after = "(" + _str(info["last-delivered-id"])
        return int(await self._count_after(keys=[stream], args=[after, LAG_COUNT_CAP]))


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
