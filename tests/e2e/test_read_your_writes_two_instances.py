"""Read-your-writes with two instances of activity and of tasks: a second activity, in this
process, joins the stack's consumer group (so the events are shared between the two) and asks a
second tasks instance where the caller's writes stand. A write through the gateway, then a read
from either activity, always shows the write."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import httpx
import pytest
from redis.asyncio import Redis

from support.accounts import Account, new_account
from support.identity import calling_as, tls_settings
from support.polling import wait_until
from support.stacks import serving_in_process
from taskmanager.activity.v1 import activity_pb2, activity_pb2_grpc
from tm_activity.bootstrap import build as build_activity
from tm_activity.config import ActivitySettings
from tm_devstack.services import SERVICES
from tm_tasks.bootstrap import build as build_tasks
from tm_tasks.config import TasksSettings

ROUNDS = 60
SECOND = "activity-second-instance"


def _url(stack: Any, name: str) -> str:
    return stack.service_database_url(next(s for s in SERVICES if s.name == name))


@asynccontextmanager
async def second_instances(stack: Any) -> AsyncIterator[str]:
    """A second tasks (RPCs only: the stack's relays the shared outbox) and a second activity
    consuming in the stack's group; yields the second activity's address."""
    # The second tasks serves mTLS as tasks (the second activity asks it, as any peer, over
    # mTLS); this process's channels go out as activity's. The second activity serves plaintext:
    # the test calls it directly.
    tasks_settings = TasksSettings(
        database_url=_url(stack, "tasks"),
        redis_url=stack.redis_url,
        auth_address=stack.service_address("auth"),
        **tls_settings(stack, "tasks"),
    )
    with calling_as(stack, "activity"):
        tasks = dataclasses.replace(build_tasks(tasks_settings), background=[])
        async with serving_in_process(tasks, tasks_settings) as tasks_address:
            peers = f"tasks={tasks_address},files={stack.service_address('files')}"
            settings = ActivitySettings(
                database_url=_url(stack, "activity"),
                redis_url=stack.redis_url,
                auth_address=stack.service_address("auth"),
                service_addresses=peers,
                consumer_name=SECOND,
            )
            async with serving_in_process(build_activity(settings), settings) as address:
                yield address
                await _until_nothing_pending(stack.redis_url)


async def _until_nothing_pending(redis_url: str) -> None:
    """Before the second activity stops: every entry it was given is acknowledged, so none waits
    for the stack's instance to claim it."""
    redis = Redis.from_url(redis_url)
    try:
        for _ in range(200):
            pending = [
                await redis.xpending_range(stream, "activity", "-", "+", 10, consumername=SECOND)
                for stream in ("events:tasks", "events:files")
            ]
            if not any(pending):
                return
            await asyncio.sleep(0.05)
    finally:
        await redis.aclose()


@pytest.fixture
def writer(http: httpx.Client) -> Account:
    return new_account(http)


async def test_a_write_shows_at_once_on_either_instance(stack, writer: Account) -> None:
    # Everything async: this process's event loop also runs the second activity's consumer.
    metadata = (("authorization", f"Bearer {writer.token}"),)
    async with (
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=10, headers=writer.headers) as http,
        second_instances(stack) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        task = (await http.post("/tasks", json={"title": "twice"})).json()
        second = activity_pb2_grpc.ActivityServiceStub(channel)
        for n in range(ROUNDS):
            response = await http.patch(f"/tasks/{task['id']}", json={"title": f"v{n}"})
            assert response.status_code == 200
            if n % 2:
                call = second.ListActivity(
                    activity_pb2.ListActivityRequest(limit=1), metadata=metadata, timeout=10
                )
                newest = (await call).entries[0]
                assert (newest.action, f"v{n}" in str(newest.details)) == ("updated", True), n
                assert "x-possibly-stale" not in dict(await call.trailing_metadata())
            else:
                read = await http.get("/activity?limit=1")
                assert "x-possibly-stale" not in read.headers, n
                assert f"v{n}" in str(read.json()[0]["details"]), n
        consumers = await _consumers(stack.redis_url)
    assert SECOND in consumers, "the second activity never took part in the group"


async def _consumers(redis_url: str) -> list[str]:
    redis = Redis.from_url(redis_url)
    try:
        found = await redis.xinfo_consumers("events:tasks", "activity")
        return [c["name"].decode() if isinstance(c["name"], bytes) else c["name"] for c in found]
    finally:
        await redis.aclose()


def test_the_stack_is_fresh_after_the_second_instance_left(http: httpx.Client, writer: Account) -> None:
    task = http.post("/tasks", json={"title": "after"}, headers=writer.headers).json()
    read = wait_until(
        lambda: http.get(f"/activity/tasks/{task['id']}", headers=writer.headers),
        "a timeline read",
        10,
        accept=lambda r: r.status_code == 200,
    )
    assert "x-possibly-stale" not in read.headers
