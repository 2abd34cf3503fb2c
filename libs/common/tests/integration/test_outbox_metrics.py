"""The outbox's metrics on real parts: rows in a scratch schema's outbox, the relay, a Redis stream."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from support.events import payload_of
from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common import outbox
from tm_common.db import Database
from tm_common.events import envelope
from tm_common.relay import OutboxBacklog, OutboxRelay, RelaySettings


def event(n: int) -> EventEnvelope:
    return envelope(
        payload_of("task.created"), "test", actor_user_id=1, task_id=n, task_owner_user_id=1, audience=[1]
    )


async def write(db: Database, *events: EventEnvelope) -> None:
    async with db.transaction() as conn:
        await outbox.add(conn, *events)


def sample(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def test_the_backlog_and_the_published_rows_are_measured(scratch: Any, redis: Redis) -> None:
    backlog = OutboxBacklog(scratch.db)
    await backlog.sample()
    assert sample("tm_outbox_unpublished_rows") == 0
    assert sample("tm_outbox_oldest_unpublished_age_seconds") == 0
    await write(scratch.db, event(1), event(2))
    await write(scratch.db, event(3))
    await backlog.sample()
    assert sample("tm_outbox_unpublished_rows") == 3
    age = sample("tm_outbox_oldest_unpublished_age_seconds")
    assert age is not None and age > 0
    # Between samples the age goes on growing: the rows are still waiting.
    later = sample("tm_outbox_oldest_unpublished_age_seconds")
    assert later is not None and later >= age

    published = sample("tm_outbox_published_total") or 0.0
    relay = OutboxRelay(scratch.db, redis, RelaySettings("events:metrics-test"))
    assert await relay.publish_batch() == 3
    assert sample("tm_outbox_published_total") == published + 3
    await backlog.sample()
    assert sample("tm_outbox_unpublished_rows") == 0
    assert sample("tm_outbox_oldest_unpublished_age_seconds") == 0
