"""The event pipeline on real parts: outbox rows in Postgres, the relay, a Redis stream, and a
test consumer whose effect (a counter per event id) shows any duplicate or lost event."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from support.events import payload_of
from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common import outbox
from tm_common.consumer import ConsumerSettings, StreamConsumer, dead_letter_stream
from tm_common.db import Database
from tm_common.events import decode, envelope
from tm_common.relay import OutboxRelay, RelaySettings

STREAM = "events:test"
GROUP = "testers"


def event(n: int) -> EventEnvelope:
    made = envelope(
        payload_of("task.created"), "test", actor_user_id=1, task_id=n, task_owner_user_id=1, audience=[1]
    )
    made.task_created.task.id = n
    return made


async def write(db: Database, *events: EventEnvelope) -> None:
    async with db.transaction() as conn:
        await outbox.add(conn, *events)


async def count_effect(conn: AsyncConnection, event: EventEnvelope) -> None:
    """The test consumer's effect: a second application of one event would show as applied=2."""
    await conn.execute(
        text(
            "INSERT INTO effects VALUES (:id, 1) "
            "ON CONFLICT (event_id) DO UPDATE SET applied = effects.applied + 1"
        ),
        {"id": event.event_id},
    )


def relay_of(scratch: Any, redis: Redis, **settings: Any) -> OutboxRelay:
    return OutboxRelay(scratch.db, redis, RelaySettings(STREAM, **settings))


def consumer_of(
    scratch: Any,
    redis: Redis,
    name: str = "c1",
    handler: Callable[..., Awaitable[None]] = count_effect,
    **kw: Any,
) -> StreamConsumer:
    settings = ConsumerSettings(group=GROUP, consumer=name, streams=[STREAM], block_seconds=0.05, **kw)
    return StreamConsumer(scratch.db, redis, settings, handler)


async def publish_all(relay: OutboxRelay) -> None:
    while await relay.publish_batch():
        pass


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def stream_ids(redis: Redis, stream: str = STREAM) -> list[str]:
    return [fields[b"event_id"].decode() for _, fields in await redis.xrange(stream)]


async def effects(scratch: Any) -> dict[str, int]:
    return {str(event_id): applied for event_id, applied in await scratch.fetch("SELECT * FROM effects")}


async def unpublished(scratch: Any) -> int:
    return (await scratch.fetch("SELECT count(*) FROM outbox WHERE published_at IS NULL"))[0][0]


@contextlib.asynccontextmanager
async def running(*loops: Callable[[], Awaitable[None]]):  # type: ignore[no-untyped-def]
    tasks = [asyncio.create_task(loop()) for loop in loops]  # type: ignore[arg-type]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- the outbox and the relay --------------------------------------------------------------


async def test_relay_publishes_each_committed_event_once_in_order(scratch, redis) -> None:
    events = [event(n) for n in range(30)]
    for each in events:
        await write(scratch.db, each)
    await publish_all(relay_of(scratch, redis, batch_size=7))

    assert await stream_ids(redis) == [e.event_id for e in events]
    first = (await redis.xrange(STREAM, count=1))[0][1]
    assert decode(first[b"payload"]) == events[0]
    assert first[b"type"] == b"task.created"
    assert await unpublished(scratch) == 0


async def test_stream_follows_commit_order_not_insert_order(scratch, redis) -> None:
    relay = relay_of(scratch, redis)
    early, late = event(1), event(2)
    async with scratch.db.transaction() as first:
        await outbox.add(first, early)  # the lower outbox id...
        await write(scratch.db, late)  # ...but this transaction commits first
        await publish_all(relay)
    await publish_all(relay)
    assert await stream_ids(redis) == [late.event_id, early.event_id]


async def test_rolled_back_change_publishes_nothing(scratch, redis) -> None:
    with pytest.raises(RuntimeError):
        async with scratch.db.transaction() as conn:
            await outbox.add(conn, event(1))
            raise RuntimeError("the change failed after its event was written")
    kept = event(2)
    await write(scratch.db, kept)
    await publish_all(relay_of(scratch, redis))
    assert await stream_ids(redis) == [kept.event_id]


async def test_relay_wakes_on_commit_without_waiting_for_its_poll(scratch, redis) -> None:
    relay = relay_of(scratch, redis, poll_seconds=120)
    async with running(relay.run):
        await write(scratch.db, event(1))
        await eventually(lambda: _has(redis, 1))  # the relay is now waiting on LISTEN
        await write(scratch.db, event(2))
        await eventually(lambda: _has(redis, 2), seconds=20)  # far less than the 120 s poll


async def _has(redis: Redis, n: int) -> bool:
    return await redis.xlen(STREAM) == n


async def test_two_relays_never_publish_an_event_twice(scratch, redis) -> None:
    events = [event(n) for n in range(300)]
    for start in range(0, 300, 50):
        await write(scratch.db, *events[start : start + 50])
    one, two = relay_of(scratch, redis, batch_size=20), relay_of(scratch, redis, batch_size=20)
    async with running(one.run, two.run):
        await eventually(lambda: _none_unpublished(scratch))
    assert await stream_ids(redis) == [e.event_id for e in events]


async def _none_unpublished(scratch: Any) -> bool:
    return await unpublished(scratch) == 0


class CrashAfterPublish(OutboxRelay):
    """Dies between XADD and marking the rows published (the transaction rolls back, as it
    would if the process were killed there)."""

    async def _mark_published(self, conn: Any, ids: list[int], entry_ids: list[str]) -> None:
        raise ConnectionError("killed between publish and mark")


async def test_crash_between_publish_and_mark_loses_nothing_and_applies_once(scratch, redis) -> None:
    events = [event(n) for n in range(10)]
    await write(scratch.db, *events)
    crashing = CrashAfterPublish(scratch.db, redis, RelaySettings(STREAM))
    with pytest.raises(ConnectionError):
        await crashing.publish_batch()
    assert await redis.xlen(STREAM) == 10
    assert await unpublished(scratch) == 10  # still owed

    await publish_all(relay_of(scratch, redis))  # the next relay publishes them again
    assert await redis.xlen(STREAM) == 20
    assert await unpublished(scratch) == 0

    consumer = consumer_of(scratch, redis)
    await consumer.ensure_groups()
    while await consumer.poll():
        pass
    assert await effects(scratch) == {e.event_id: 1 for e in events}
    assert consumer.counters.duplicates == 10


async def test_writes_go_on_while_redis_is_down_and_every_event_arrives_once(
    scratch, redis, redis_server
) -> None:
    relay = relay_of(scratch, redis, poll_seconds=0.2)
    consumer = consumer_of(scratch, redis)
    before, during = [event(n) for n in range(10)], [event(n) for n in range(10, 40)]
    async with running(relay.run, consumer.run):
        await write(scratch.db, *before)
        await eventually(lambda: _applied(scratch, 10))

        redis_server.stop()
        for each in during:  # every write commits: they only need Postgres
            await write(scratch.db, each)
        await asyncio.sleep(1.0)  # the relay keeps failing meanwhile
        assert await unpublished(scratch) == len(during)
        redis_server.start()

        await eventually(lambda: _applied(scratch, 40), seconds=30)
    assert await effects(scratch) == {e.event_id: 1 for e in before + during}
    assert await unpublished(scratch) == 0


async def _applied(scratch: Any, n: int) -> bool:
    return len(await effects(scratch)) == n


async def test_trim_never_drops_events_a_live_group_has_not_read(scratch, redis) -> None:
    cap = 100
    relay = relay_of(scratch, redis, batch_size=50, max_stream_length=cap, live_group_seconds=60)
    events = [event(n) for n in range(300)]
    await write(scratch.db, *events)
    consumer = consumer_of(scratch, redis, batch_size=30)
    await consumer.ensure_groups()  # a new group, nothing read yet

    await publish_all(relay)
    assert await redis.xlen(STREAM) == cap  # held back at the cap...
    assert await unpublished(scratch) == 200  # ...with the rest safe in the outbox

    for _ in range(50):  # the consumer reads, the relay publishes as room appears
        await consumer.poll()
        await publish_all(relay)
        if len(await effects(scratch)) == 300:
            break
    assert await effects(scratch) == {e.event_id: 1 for e in events}
    assert await unpublished(scratch) == 0


async def test_an_abandoned_group_does_not_hold_the_relay_back(scratch, redis) -> None:
    relay = relay_of(scratch, redis, batch_size=50, max_stream_length=100, live_group_seconds=0.2)
    await write(scratch.db, *[event(n) for n in range(300)])
    await redis.xadd(STREAM, {"event_id": "first"})
    await redis.xgroup_create(STREAM, "abandoned", id="0")
    await redis.xreadgroup("abandoned", "gone", {STREAM: ">"}, count=1)  # read one, then went away
    await asyncio.sleep(0.3)  # its only consumer is idle longer than live_group_seconds
    await publish_all(relay)
    assert await unpublished(scratch) == 0


# -- the consumer library ------------------------------------------------------------------


class CrashBeforeAck(StreamConsumer):
    async def _ack(self, entries: list[Any]) -> None:
        raise ConnectionError("killed after commit, before XACK")


async def test_consumer_killed_before_ack_redelivers_without_a_second_effect(scratch, redis) -> None:
    events = [event(n) for n in range(5)]
    await write(scratch.db, *events)
    await publish_all(relay_of(scratch, redis))
    crashing = CrashBeforeAck(scratch.db, redis, consumer_of(scratch, redis, "a").settings, count_effect)
    await crashing.ensure_groups()
    with pytest.raises(ConnectionError):
        await crashing.poll()
    assert await effects(scratch) == {e.event_id: 1 for e in events}  # committed, never acked

    restarted = consumer_of(scratch, redis, "a")  # the same consumer name, restarted
    async with running(restarted.run):
        await eventually(lambda: _pending(redis, 0))
    assert restarted.counters.duplicates == 5
    assert await effects(scratch) == {e.event_id: 1 for e in events}


async def test_another_consumer_claims_entries_stuck_with_a_dead_one(scratch, redis) -> None:
    events = [event(n) for n in range(5)]
    await write(scratch.db, *events)
    await publish_all(relay_of(scratch, redis))
    crashing = CrashBeforeAck(scratch.db, redis, consumer_of(scratch, redis, "dead").settings, count_effect)
    await crashing.ensure_groups()
    with pytest.raises(ConnectionError):
        await crashing.poll()

    survivor = consumer_of(scratch, redis, "survivor", claim_idle_seconds=0.1)
    await asyncio.sleep(0.15)
    assert await survivor.claim_stuck() == 5
    assert await _pending(redis, 0)
    assert survivor.counters.duplicates == 5
    assert await effects(scratch) == {e.event_id: 1 for e in events}


async def _pending(redis: Redis, n: int) -> bool:
    return (await redis.xpending(STREAM, GROUP))["pending"] == n


async def test_undecodable_entry_is_dead_lettered_at_once(scratch, redis) -> None:
    good = event(1)
    await redis.xadd(STREAM, {"event_id": "junk", "type": "task.created", "payload": b"\xff not protobuf"})
    await write(scratch.db, good)
    await publish_all(relay_of(scratch, redis))
    consumer = consumer_of(scratch, redis)
    await consumer.ensure_groups()
    await consumer.poll()

    dead = await redis.xrange(dead_letter_stream(STREAM))
    assert len(dead) == 1
    assert dead[0][1][b"payload"] == b"\xff not protobuf"
    assert b"not an EventEnvelope" in dead[0][1][b"error"]
    assert await effects(scratch) == {good.event_id: 1}
    assert await _pending(redis, 0)


async def test_unknown_schema_version_is_dead_lettered(scratch, redis) -> None:
    future = event(1)
    future.schema_version = 2
    await redis.xadd(STREAM, {"event_id": future.event_id, "payload": future.SerializeToString()})
    consumer = consumer_of(scratch, redis)
    await consumer.ensure_groups()
    await consumer.poll()
    assert await redis.xlen(dead_letter_stream(STREAM)) == 1
    assert await effects(scratch) == {}


async def test_poison_event_is_retried_then_dead_lettered_without_blocking_others(scratch, redis) -> None:
    poison, fine = event(1), [event(n) for n in range(2, 6)]

    async def picky(conn: AsyncConnection, received: EventEnvelope) -> None:
        await count_effect(conn, received)  # rolled back with its savepoint when we raise
        if received.event_id == poison.event_id:
            raise ValueError("cannot apply this one")

    await write(scratch.db, poison, *fine)
    await publish_all(relay_of(scratch, redis))
    consumer = consumer_of(scratch, redis, handler=picky, max_deliveries=3, claim_idle_seconds=0.1)
    await consumer.ensure_groups()

    async def dead_lettered() -> bool:
        await consumer.poll()
        return await redis.xlen(dead_letter_stream(STREAM)) == 1

    await eventually(dead_lettered)
    assert await effects(scratch) == {e.event_id: 1 for e in fine}
    (_, dead), *_ = await redis.xrange(dead_letter_stream(STREAM))
    assert decode(dead[b"payload"]).event_id == poison.event_id
    assert dead[b"deliveries"] == b"3"
    assert b"cannot apply this one" in dead[b"error"]
    assert consumer.counters.failures == 3
    processed = await scratch.fetch("SELECT event_id::text FROM processed_events")
    assert poison.event_id not in {row[0] for row in processed}
    assert await _pending(redis, 0)


async def test_events_of_other_types_are_acknowledged_without_a_transaction(scratch, redis) -> None:
    wanted = envelope(payload_of("task.deleted"), "test", 1, task_id=9, task_owner_user_id=1)
    wanted.task_deleted.task.id = 9
    others = [event(n) for n in range(3)]  # task.created
    await write(scratch.db, *others, wanted)
    await publish_all(relay_of(scratch, redis))
    consumer = consumer_of(scratch, redis, event_types=frozenset({"task.deleted"}))
    await consumer.ensure_groups()
    await consumer.poll()
    assert await effects(scratch) == {wanted.event_id: 1}
    assert consumer.counters.skipped == 3
    recorded = await scratch.fetch("SELECT event_id::text FROM processed_events")
    assert [row[0] for row in recorded] == [wanted.event_id]
    assert await _pending(redis, 0)
