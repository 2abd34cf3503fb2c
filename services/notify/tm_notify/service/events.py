"""The event consumer's handler: who is told what, queued in the consumer's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_notify.adapters import delivery_store, user_store
from tm_notify.adapters.delivery_store import NewDelivery
from tm_notify.domain.notifications import SWITCH_OF, mail_of, notice_of
from tm_notify.domain.preferences import wants

# What the handler acts on: the consumer acknowledges every other event without a transaction.
HANDLED = frozenset({"user.registered", *SWITCH_OF})


async def handle(conn: AsyncConnection, event: EventEnvelope) -> None:
    """Runs in the transaction that records the event as processed: the deliveries it queues
    exist once per (event, recipient), whatever the redeliveries."""
    if event.type == "user.registered":
        registered = event.user_registered
        await user_store.remember_user(conn, registered.user_id, registered.username, registered.email)
        await user_store.create_defaults(conn, registered.user_id)
        return
    notice = notice_of(event)
    if notice is None or not notice.candidates:
        return
    recipients = [
        c for c in await user_store.contacts(conn, notice.candidates) if wants(c.preferences, notice.switch)
    ]
    if not recipients:
        return
    mail = mail_of(event)
    await delivery_store.enqueue(
        conn,
        [
            NewDelivery(
                event_id=event.event_id,
                user_id=contact.user_id,
                kind=notice.kind,
                email=contact.email,
                subject=mail.subject,
                body=mail.body,
            )
            for contact in recipients
        ],
    )
