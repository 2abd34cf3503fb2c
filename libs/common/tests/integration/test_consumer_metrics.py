"""A consumer group's metrics on real parts: a Redis stream (the stack's Redis 6.2, and a Redis 7,
whose XINFO GROUPS has a lag of its own), a scratch schema, the consumer and its backlog sampler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from support import apt
from support.events import payload_of
from support.polling import wait_until
from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common import outbox
from tm_common.config import ServiceSettings
from tm_common.consumer import ConsumerSettings, StreamConsumer, consumer_loops
from tm_common.consumer_backlog import ConsumerBacklog
from tm_common.events import envelope
from tm_common.relay import OutboxRelay, RelaySettings
from tm_devstack.ports import free_port

GROUP = "metered"


def find_redis7() -> str | None:
    found = shutil.which("redis-server")
    if found is None:
        return None
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"v=(\d+)\.", version)
    return found if match and int(match.group(1)) >= 7 else None


@pytest.fixture(scope="module")
def redis7_server() -> Iterator[str]:
    """A Redis 7 (Debian's redis-server): production's lag comes from Redis itself."""
    try:
        binary = apt.ensure(("redis-server",), find_redis7)
    except apt.AptUnavailable as error:
        pytest.fail(f"a Redis 7 is needed to test the lag Redis reports: {error}", pytrace=False)
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = SyncRedis.from_url(url, socket_connect_timeout=0.2)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except Exception:
            return False

    try:
        wait_until(answers, "the Redis 7 to answer", 10)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(10)


@pytest.fixture(params=["redis_server", "redis7_server"])
def redis_url(request: pytest.FixtureRequest) -> str:
    """The stack's Redis 6.2 (no lag in XINFO GROUPS), or a Redis 7."""
    server = request.getfixturevalue(request.param)
    return server if isinstance(server, str) else str(server.url)


@pytest.fixture
async def any_redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=0.5)
    yield client
    await client.aclose()


def new_stream() -> str:
    """A stream of its own per test: the registry is the process's, shared by every test."""
    return f"events:metrics-{uuid.uuid4().hex[:8]}"


def sample(name: str, stream: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"stream": stream, "group": GROUP})


def event(n: int) -> EventEnvelope:
    return envelope(
        payload_of("task.created"), "test", actor_user_id=1, task_id=n, task_owner_user_id=1, audience=[1]
    )


async def publish(scratch: Any, redis: Redis, stream: str, *events: EventEnvelope) -> None:
    async with scratch.db.transaction() as conn:
        await outbox.add(conn, *events)
    relay = OutboxRelay(scratch.db, redis, RelaySettings(stream))
    while await relay.publish_batch():
        pass


async def count_effect(conn: AsyncConnection, event: EventEnvelope) -> None:
    await conn.execute(text("INSERT INTO effects VALUES (:id, 1)"), {"id": event.event_id})


def consumer_of(
    scratch: Any, redis: Redis, stream: str, handler: Callable[..., Awaitable[None]] = count_effect
) -> StreamConsumer:
    settings = ConsumerSettings(group=GROUP, consumer="c1", streams=[stream], block_seconds=0.05)
    return StreamConsumer(scratch.db, redis, settings, handler)


async def add_entries(redis: Redis, stream: str, n: int) -> list[bytes]:
    return [await redis.xadd(stream, {"n": str(i)}) for i in range(n)]


# -- lag and pending -------------------------------------------------------------------------


async def test_lag_and_pending_follow_what_the_group_has_read_and_acked(any_redis: Redis) -> None:
    stream = new_stream()
    backlog = ConsumerBacklog(any_redis, GROUP, [stream])
    await backlog.sample()  # no stream yet: nothing to tell, and no error
    assert sample("tm_consumer_lag", stream) is None
    await any_redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    await backlog.sample()
    assert (sample("tm_consumer_lag", stream), sample("tm_consumer_pending", stream)) == (0, 0)

    ids = await add_entries(any_redis, stream, 5)
    read: Any = await any_redis.xreadgroup(GROUP, "c1", {stream: ">"}, count=2)
    assert len(read[0][1]) == 2
    await backlog.sample()
    assert (sample("tm_consumer_lag", stream), sample("tm_consumer_pending", stream)) == (3, 2)

    await any_redis.xack(stream, GROUP, ids[0])
    await backlog.sample()
    assert (sample("tm_consumer_lag", stream), sample("tm_consumer_pending", stream)) == (3, 1)


async def test_entries_deleted_before_delivery_leave_the_lag_countable(any_redis: Redis) -> None:
    """Redis 7 reports no lag once an entry after the group's position was deleted; Redis 6.2
    never does. Then the undelivered entries still there are counted."""
    stream = new_stream()
    await any_redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    ids = await add_entries(any_redis, stream, 6)
    await any_redis.xreadgroup(GROUP, "c1", {stream: ">"}, count=1)
    await any_redis.xdel(stream, ids[3])
    [info] = await any_redis.xinfo_groups(stream)
    assert info.get("lag") is None  # what the fallback is for
    await ConsumerBacklog(any_redis, GROUP, [stream]).sample()
    assert sample("tm_consumer_lag", stream) == 4  # 6 added, 1 read, 1 deleted


async def test_only_the_consumers_own_group_is_sampled(redis: Redis) -> None:
    stream = new_stream()
    await redis.xgroup_create(stream, "another", id="0", mkstream=True)
    await add_entries(redis, stream, 2)
    await ConsumerBacklog(redis, GROUP, [stream]).sample()
    assert sample("tm_consumer_lag", stream) is None
    assert REGISTRY.get_sample_value("tm_consumer_lag", {"stream": stream, "group": "another"}) is None


def test_consumer_loops_include_the_backlog_sampler(redis: Redis) -> None:
    settings = ServiceSettings(consume_streams="events:one", consumer_group=GROUP)
    loops = consumer_loops(settings, None, redis, count_effect)  # type: ignore[arg-type]
    owners = [type(loop.__self__) for loop in loops]  # type: ignore[attr-defined]
    assert owners == [StreamConsumer, ConsumerBacklog]
    assert consumer_loops(ServiceSettings(), None, redis, count_effect) == []  # type: ignore[arg-type]


async def test_the_sampler_waits_out_a_redis_outage(
    redis: Redis, redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stream = new_stream()
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    backlog = ConsumerBacklog(redis, GROUP, [stream], seconds=0.05)
    task = asyncio.create_task(backlog.run())
    try:
        await eventually(lambda: sample("tm_consumer_lag", stream) == 0)
        with caplog.at_level(logging.WARNING, logger="tm_common.loops"):
            redis_server.stop()
            try:
                await eventually(lambda: "consumer metrics paused" in caplog.text)
                assert not task.done()
            finally:
                redis_server.start()
        await add_entries(redis, stream, 3)
        await eventually(lambda: sample("tm_consumer_lag", stream) == 3)  # sampling again
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


# -- dead letters and the handler's time -----------------------------------------------------


async def test_an_undecodable_entry_counts_as_dead_lettered(scratch: Any, redis: Redis) -> None:
    stream = new_stream()
    consumer = consumer_of(scratch, redis, stream)
    await consumer.ensure_groups()
    await redis.xadd(stream, {"event_id": "x", "type": "task.created"})  # no payload
    await consumer.poll()
    assert consumer.counters.dead_lettered == 1
    assert sample("tm_consumer_dead_lettered_total", stream) == 1
    await publish(scratch, redis, stream, event(1))  # a good event is not counted
    await consumer.poll()
    assert sample("tm_consumer_dead_lettered_total", stream) == 1


async def test_each_applied_event_is_timed(scratch: Any, redis: Redis) -> None:
    stream = new_stream()
    consumer = consumer_of(scratch, redis, stream)
    await consumer.ensure_groups()
    assert sample("tm_consumer_handler_seconds_count", stream) is None
    await publish(scratch, redis, stream, event(1), event(2), event(3))
    assert await consumer.poll() == 3
    assert consumer.counters.applied == 3
    assert sample("tm_consumer_handler_seconds_count", stream) == 3
    total = sample("tm_consumer_handler_seconds_sum", stream)
    assert total is not None and total > 0
    buckets = {"stream": stream, "group": GROUP, "le": "+Inf"}
    assert REGISTRY.get_sample_value("tm_consumer_handler_seconds_bucket", buckets) == 3


async def test_after_a_failing_handler_each_event_is_timed_on_its_own(scratch: Any, redis: Redis) -> None:
    stream = new_stream()
    poison = event(2)

    async def fails_on_poison(conn: AsyncConnection, each: EventEnvelope) -> None:
        if each.event_id == poison.event_id:
            raise RuntimeError("cannot apply this one")
        await count_effect(conn, each)

    consumer = consumer_of(scratch, redis, stream, fails_on_poison)
    await consumer.ensure_groups()
    await publish(scratch, redis, stream, event(1), poison, event(3))
    await consumer.poll()
    assert (consumer.counters.applied, consumer.counters.failures) == (2, 1)
    # The failed batch is not timed; each of the three events in its savepoint is.
    assert sample("tm_consumer_handler_seconds_count", stream) == 3
    assert sample("tm_consumer_dead_lettered_total", stream) is None  # retried later, not yet dead
