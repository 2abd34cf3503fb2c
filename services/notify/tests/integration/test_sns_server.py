"""A notify server in this process configured for SNS (a local SNS over real HTTP), on a schema
and a consumer group of its own, fed by the stack's real event streams: subscribe, verify with
the code SNS carried, and the emails of a share and a comment published to the topic for the
right user only."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import httpx
import pytest
from redis.asyncio import Redis

from support.accounts import Account, new_account, unique
from support.events import task_events
from support.identity import calling_as
from taskmanager.notify.v1 import notify_pb2, notify_pb2_grpc
from tm_common.server import start_server
from tm_notify.bootstrap import build

WAIT_SECONDS = 20.0


async def wait_until(check: Callable[[], Any], what: str) -> Any:
    """Poll (checks run in a thread) without blocking the loop the server under test runs in."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        found = await asyncio.to_thread(check)
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"{what}: not within {WAIT_SECONDS} s"
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def sns_notify(stack, private_schemas, local_sns) -> AsyncIterator[dict[str, Any]]:
    topic = local_sns.new_topic()
    settings = private_schemas.create(sns_topic_arn=topic, sns_endpoint_url=local_sns.url)
    with calling_as(stack, "notify"):  # it asks the stack's auth for users, as notify
        definition = build(settings)
        running = await start_server(definition, settings, address="127.0.0.1:0")
        yield {"address": f"127.0.0.1:{running.port}", "topic": topic, "settings": settings}
        await running.stop(0)
        for close in definition.on_close:
            await close()
    redis = Redis.from_url(stack.redis_url)
    for stream in settings.streams:
        await redis.xgroup_destroy(stream, settings.consumer_group)
    await redis.aclose()


def bearer(account: Account) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {account.token}"),)


def messages_for(local_sns, topic: str, user_id: int, kind: str | None = None) -> list[dict[str, Any]]:
    return [
        m
        for m in local_sns.published(topic)
        if m["attributes"]["user_id"] == ("String", str(user_id))
        and (kind is None or m["attributes"]["kind"] == ("String", kind))
    ]


def accounts(gateway_url: str, n: int) -> list[Account]:
    with httpx.Client(base_url=gateway_url, timeout=10) as http:
        return [new_account(http) for _ in range(n)]


async def test_sns_mode_from_subscribe_to_notifications(stack, sns_notify, local_sns, rows_in) -> None:
    topic = sns_notify["topic"]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as http:
        alice, bob = await asyncio.to_thread(accounts, stack.gateway_url, 2)
        async with grpc.aio.insecure_channel(sns_notify["address"]) as channel:
            notify = notify_pb2_grpc.NotifyServiceStub(channel)
            subscribed = await notify.Subscribe(notify_pb2.SubscribeRequest(), metadata=bearer(alice))
            assert subscribed.email == alice.email
            [subscription] = [s for s in local_sns.subscriptions(topic) if s["endpoint"] == alice.email]
            assert subscription["protocol"] == "email"
            assert json.loads(subscription["attributes"]["FilterPolicy"]) == {"user_id": [str(alice.id)]}

            [code_mail] = await wait_until(
                lambda: messages_for(local_sns, topic, alice.id, "verification"), "the code, through SNS"
            )
            code = re.search(r"verification code is (\d{6})", code_mail["message"])
            assert code is not None
            verified = await notify.VerifyEmail(
                notify_pb2.VerifyEmailRequest(code=code.group(1)), metadata=bearer(alice)
            )
            assert verified.email == alice.email
            prefs = await notify.GetPreferences(notify_pb2.GetPreferencesRequest(), metadata=bearer(alice))
            assert prefs.email_verified

        title = unique("Plan ")
        task = (await http.post("/tasks", json={"title": title}, headers=bob.headers)).json()
        shared = await http.post(
            f"/tasks/{task['id']}/share", json={"shared_with_username": alice.username}, headers=bob.headers
        )
        assert shared.status_code == 201, shared.text
        comment = await http.post(
            f"/tasks/{task['id']}/comments", json={"content": "see you there"}, headers=bob.headers
        )
        assert comment.status_code == 201, comment.text
        mine = await http.post(
            f"/tasks/{task['id']}/comments", json={"content": "alice's own"}, headers=alice.headers
        )
        assert mine.status_code == 201, mine.text

    [share_mail] = await wait_until(
        lambda: messages_for(local_sns, topic, alice.id, "task.shared"), "the share email"
    )
    assert title in share_mail["subject"] and bob.username in share_mail["message"]
    [comment_mail] = await wait_until(
        lambda: messages_for(local_sns, topic, alice.id, "comment.added"), "the comment email"
    )
    assert "see you there" in comment_mail["message"]
    # Alice's own comment tells bob (the owner), who never verified: nothing for him, nothing
    # more for her. Settled once the private schema has consumed that comment's event.
    [own_comment] = await asyncio.to_thread(
        lambda: [
            e
            for e in task_events(stack.redis_url, task["id"], until=lambda events: len(events) >= 4)
            if e.type == "comment.added" and e.actor_user_id == alice.id
        ]
    )
    settings = sns_notify["settings"]
    await wait_until(
        lambda: rows_in(
            settings, "SELECT 1 FROM processed_events WHERE event_id = %s", (own_comment.event_id,)
        ),
        "the private notify consuming alice's comment",
    )
    assert rows_in(settings, "SELECT * FROM deliveries WHERE event_id = %s", (own_comment.event_id,)) == []
    assert messages_for(local_sns, topic, bob.id) == []
    assert len(messages_for(local_sns, topic, alice.id)) == 3
