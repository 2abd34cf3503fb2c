"""The SNS sender against a local SNS (moto_server) over real HTTP: one topic, an email
subscription per user whose filter policy lets only that user's messages through, every message
published with user_id and kind attributes."""

from __future__ import annotations

import json

import pytest

from tm_common.errors import Unavailable
from tm_devstack.ports import free_port
from tm_notify.adapters.senders import SnsSender
from tm_notify.domain.deliveries import OutgoingMail
from tm_notify.domain.sending import Deferred


def mail(user_id: int, kind: str = "task.shared", **fields) -> OutgoingMail:
    values = {"delivery_id": 1, "email": f"u{user_id}@example.com", "subject": "Subject", "body": "Body"}
    return OutgoingMail(user_id=user_id, kind=kind, **{**values, **fields})


async def test_subscribe_adds_an_email_subscription_filtered_on_the_user(local_sns) -> None:
    topic = local_sns.new_topic()
    sender = SnsSender.create(topic, "", local_sns.url, 5.0)  # the region is the topic's
    arn = await sender.subscribe(42, "ann@example.com")
    [subscription] = local_sns.subscriptions(topic)
    assert subscription["arn"] == arn
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "ann@example.com")
    assert json.loads(subscription["attributes"]["FilterPolicy"]) == {"user_id": ["42"]}
    assert await sender.subscribe(42, "ann@example.com") == arn  # SNS keeps one per address
    assert len(local_sns.subscriptions(topic)) == 1


async def test_send_publishes_to_the_topic_with_the_user_and_the_kind(local_sns) -> None:
    topic = local_sns.new_topic()
    sender = SnsSender.create(topic, "us-east-1", local_sns.url, 5.0)
    message_id = await sender.send(mail(42, subject="A task was shared with you: Plan", body="Ann shared..."))
    assert local_sns.published(topic) == [
        {
            "id": message_id,
            "message": "Ann shared...",
            "subject": "A task was shared with you: Plan",
            "attributes": {"user_id": ("String", "42"), "kind": ("String", "task.shared")},
        }
    ]


async def test_the_filter_policy_lets_each_subscriber_get_only_their_own_messages(local_sns) -> None:
    """SQS queues subscribed with the filter policies the sender gives its email subscriptions
    stand in for the inboxes (moto delivers to SQS, not to email)."""
    client = local_sns.client()
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=local_sns.url)
    topic = local_sns.new_topic()
    sender = SnsSender.create(topic, "", local_sns.url, 5.0)
    inboxes = {}
    for user_id in (1, 2):
        email_subscription = await sender.subscribe(user_id, f"u{user_id}@example.com")
        policy = client.get_subscription_attributes(SubscriptionArn=email_subscription)["Attributes"]
        queue = sqs.create_queue(QueueName=f"inbox-{topic.rsplit(':', 1)[1]}-{user_id}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
        client.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue_arn["QueueArn"],
            Attributes={"FilterPolicy": policy["FilterPolicy"], "RawMessageDelivery": "true"},
        )
        inboxes[user_id] = queue
    for user_id, body in ((1, "for one"), (2, "for two"), (1, "for one again")):
        await sender.send(mail(user_id, body=body))
    for user_id, wanted in ((1, ["for one", "for one again"]), (2, ["for two"])):
        received = sqs.receive_message(QueueUrl=inboxes[user_id], MaxNumberOfMessages=10)["Messages"]
        assert sorted(m["Body"] for m in received) == wanted


async def test_a_verification_code_is_published_once_the_subscription_is_confirmed(local_sns) -> None:
    topic = local_sns.new_topic()
    sender = SnsSender.create(topic, "", local_sns.url, 5.0)
    arn = await sender.subscribe(7, "u7@example.com")  # moto confirms at once
    await sender.send(mail(7, kind="verification", subscription_ref=arn))
    assert [m["attributes"]["kind"] for m in local_sns.published(topic)] == [("String", "verification")]


class PendingClient:
    """An SNS client whose subscription still awaits its owner's confirmation."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def get_subscription_attributes(self, SubscriptionArn: str) -> dict:  # noqa: N803 (boto3's names)
        return {"Attributes": {"PendingConfirmation": "true"}}

    def publish(self, **kwargs) -> dict:
        self.published.append(kwargs)
        return {"MessageId": "m1"}


async def test_a_code_for_an_unconfirmed_subscription_is_deferred_not_published() -> None:
    client = PendingClient()
    sender = SnsSender(client, "arn:aws:sns:us-east-1:123456789012:notify")
    with pytest.raises(Deferred):
        await sender.send(mail(7, kind="verification", subscription_ref="arn:aws:sns:us-east-1:1:notify:abc"))
    assert client.published == []
    assert await sender.send(mail(7)) == "m1"  # notifications do not wait (the address is verified)


async def test_an_unreachable_provider_fails_the_send_and_the_subscribe(local_sns) -> None:
    topic = local_sns.new_topic()
    sender = SnsSender.create(topic, "", f"http://127.0.0.1:{free_port()}", 1.0)
    with pytest.raises(Exception) as failed:
        await sender.send(mail(1))
    assert not isinstance(failed.value, Deferred)  # an ordinary failure: retried with backoff
    with pytest.raises(Unavailable):
        await sender.subscribe(1, "u1@example.com")
