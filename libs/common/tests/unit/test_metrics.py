"""The metrics endpoint, the database pool collector and the Redis error counter."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from tm_common import metrics, redis_client
from tm_common.config import ServiceSettings
from tm_common.db import Database
from tm_devstack.ports import free_port


class FixedPool:
    def __init__(self, stats: metrics.PoolStats) -> None:
        self.stats = stats

    def pool_stats(self) -> metrics.PoolStats:
        return self.stats


def test_the_endpoint_serves_the_registry_until_stopped() -> None:
    metrics.RATE_LIMIT_REFUSALS.labels("endpoint-test").inc()
    endpoint = metrics.serve_metrics("127.0.0.1", free_port())
    assert endpoint is not None
    url = f"http://127.0.0.1:{endpoint.port}/metrics"
    try:
        reply = httpx.get(url, timeout=5)
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/plain")
        assert 'tm_rate_limit_refusals_total{limit="endpoint-test"} 1.0' in reply.text
        assert "# TYPE grpc_server_handling_seconds histogram" in reply.text
        assert "_created" not in reply.text
    finally:
        endpoint.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)


def test_metrics_port_0_serves_nothing() -> None:
    assert metrics.serve_metrics("127.0.0.1", 0) is None


def test_metrics_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().metrics_port == 9464
    monkeypatch.setenv("METRICS_PORT", "9999")
    assert ServiceSettings().metrics_port == 9999
    monkeypatch.setenv("METRICS_PORT", "-1")
    with pytest.raises(ValueError, match="metrics_port"):
        ServiceSettings()


def test_pool_gauges_sum_the_pools_and_follow_them() -> None:
    registry = CollectorRegistry()
    collector = metrics.PoolCollector()
    registry.register(collector)
    assert registry.get_sample_value("tm_db_pool_max") is None  # no database, no series
    one = FixedPool(metrics.PoolStats(in_use=2, idle=3, waiting=1, max=30))
    other = FixedPool(metrics.PoolStats(in_use=1, idle=0, waiting=0, max=10))
    collector.track(one)
    collector.track(other)
    assert registry.get_sample_value("tm_db_pool_connections", {"state": "in_use"}) == 3
    assert registry.get_sample_value("tm_db_pool_connections", {"state": "idle"}) == 3
    assert registry.get_sample_value("tm_db_pool_waiting") == 1
    assert registry.get_sample_value("tm_db_pool_max") == 40
    one.stats = metrics.PoolStats(in_use=0, idle=5, waiting=0, max=30)  # read at every scrape
    assert registry.get_sample_value("tm_db_pool_connections", {"state": "in_use"}) == 1
    collector.untrack(other)
    assert registry.get_sample_value("tm_db_pool_max") == 30


async def test_a_database_is_counted_from_creation_to_close() -> None:
    """Nothing connects before first use, so this needs no server."""
    settings = ServiceSettings(db_max_connections=6, database_url="postgresql+psycopg://x@127.0.0.1:1/x")
    database = Database(settings)
    # DB_MAX_CONNECTIONS 6: 2 (SQLAlchemy's) + 2 (fast path) in the pools, 2 kept for LISTEN.
    assert database.pool_stats() == metrics.PoolStats(in_use=0, idle=0, waiting=0, max=4)
    assert database in set(metrics.DB_POOLS._sources)
    assert REGISTRY.get_sample_value("tm_db_pool_max") is not None
    await database.close()
    assert database not in set(metrics.DB_POOLS._sources)


def redis_errors(operation: str) -> float:
    return REGISTRY.get_sample_value("tm_redis_errors_total", {"operation": operation}) or 0.0


async def test_failed_redis_commands_are_counted_by_command() -> None:
    redis = redis_client.connect(ServiceSettings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    get, pipeline = redis_errors("GET"), redis_errors("PIPELINE")
    with pytest.raises(RedisConnectionError):
        await redis.get("key")
    pipe = redis.pipeline(transaction=False)
    pipe.set("a", 1)
    pipe.incr("b")
    with pytest.raises(RedisConnectionError):
        await pipe.execute()
    assert (redis_errors("GET"), redis_errors("PIPELINE")) == (get + 1, pipeline + 1)
    assert redis_errors("SET") == redis_errors("INCR") == 0  # queued, not sent one by one
    await redis.aclose()
