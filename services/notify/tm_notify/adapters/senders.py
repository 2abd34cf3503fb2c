"""Where emails go: Amazon SNS when a topic is configured, else the local delivery log.

Both are the service's EmailSender: they take an email as the sender loop hands it over and
answer the provider's message id, or raise: `Deferred` when the provider cannot take it yet
(retried without counting an attempt), anything else for a failure (retried with backoff)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert

from tm_common.db import Database
from tm_common.errors import Unavailable
from tm_notify.adapters.tables import mail_log
from tm_notify.domain.deliveries import OutgoingMail
from tm_notify.domain.sending import Deferred

log = logging.getLogger(__name__)


class LocalLogSender:
    """The local delivery log: a row per email in the schema's `mail_log` (at most one per
    delivery, so a resend after a crash is a no-op) and a line in the service's log."""

    name = "local"

    def __init__(self, db: Database) -> None:
        self._db = db

    async def subscribe(self, user_id: int, email: str) -> str | None:
        return None

    async def send(self, mail: OutgoingMail) -> str:
        statement = pg_insert(mail_log).values(
            delivery_id=mail.delivery_id,
            user_id=mail.user_id,
            kind=mail.kind,
            email=mail.email,
            subject=mail.subject,
            body=mail.body,
        )
        async with self._db.transaction() as conn:
            await conn.execute(statement.on_conflict_do_nothing(index_elements=[mail_log.c.delivery_id]))
        log.info(
            "email written to the local delivery log",
            extra={
                "delivery_id": mail.delivery_id,
                "to": mail.email,
                "user": mail.user_id,
                "kind": mail.kind,
                "subject": mail.subject,
                "body": mail.body,
            },
        )
        return f"local:{mail.delivery_id}"


class SnsSender:
    """Amazon SNS, one topic for everyone: each user's address is an email subscription whose
    filter policy accepts only messages carrying that user's id, and every message is published
    with `user_id` and `kind` attributes. boto3 blocks, so calls run in threads."""

    name = "sns"

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    @classmethod
    def create(cls, topic_arn: str, region: str, endpoint_url: str, timeout: float) -> SnsSender:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 1, "mode": "standard"},  # the sender loop retries, with backoff
        )
        client = boto3.client(
            "sns",
            region_name=region or topic_arn.split(":")[3],
            endpoint_url=endpoint_url or None,
            config=config,
        )
        return cls(client, topic_arn)

    async def subscribe(self, user_id: int, email: str) -> str | None:
        try:
            reply = await asyncio.to_thread(
                self._client.subscribe,
                TopicArn=self.topic_arn,
                Protocol="email",
                Endpoint=email,
                Attributes={"FilterPolicy": json.dumps({"user_id": [str(user_id)]})},
                ReturnSubscriptionArn=True,
            )
        except Exception as exc:  # botocore's ClientError / BotoCoreError, a timeout
            log.warning(
                "SNS subscribe failed", extra={"user": user_id, "error": f"{type(exc).__name__}: {exc}"}
            )
            raise Unavailable("the email provider is unavailable; try again") from exc
        return str(reply["SubscriptionArn"])

    async def send(self, mail: OutgoingMail) -> str:
        if mail.subscription_ref and await self._pending_confirmation(mail.subscription_ref):
            raise Deferred("the SNS subscription awaits the user's confirmation")
        reply = await asyncio.to_thread(
            self._client.publish,
            TopicArn=self.topic_arn,
            Subject=mail.subject,
            Message=mail.body,
            MessageAttributes={
                "user_id": {"DataType": "String", "StringValue": str(mail.user_id)},
                "kind": {"DataType": "String", "StringValue": mail.kind},
            },
        )
        return str(reply["MessageId"])

    async def _pending_confirmation(self, subscription_arn: str) -> bool:
        """SNS delivers nothing to an email subscription until its owner confirms it (a link AWS
        mails them), so the verification code waits for that."""
        if not subscription_arn.startswith("arn:"):  # "pending confirmation" (no ARN returned)
            return True
        reply = await asyncio.to_thread(
            self._client.get_subscription_attributes, SubscriptionArn=subscription_arn
        )
        return str(reply["Attributes"].get("PendingConfirmation", "false")).lower() == "true"
