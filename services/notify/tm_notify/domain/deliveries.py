"""The emails to send: queued once per (event, recipient), claimed by the sender loop, handed to
the provider. Pure, no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class NewDelivery:
    event_id: uuid.UUID | str  # the triggering event (a verification: a fresh id of its own)
    user_id: int
    kind: str  # the event type, or "verification"
    email: str
    subject: str
    body: str
    subscription_ref: str | None = None  # a provider's subscription the email must wait for
    expires_at: datetime | None = None  # pointless after this (a verification code)


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """An email as the sender loop hands it to the provider."""

    delivery_id: int
    user_id: int
    kind: str
    email: str
    subject: str
    body: str
    subscription_ref: str | None = None  # wait until this subscription is confirmed


@dataclass(frozen=True, slots=True)
class Delivery:
    """A queued email as the sender loop claims it."""

    id: int
    event_id: str
    user_id: int
    kind: str
    email: str
    subject: str
    body: str
    subscription_ref: str | None
    attempts: int  # failed sends so far
    expires_at: datetime | None
    # W3C traceparent/tracestate of whatever queued it (an event's request, a subscribe call).
    trace_context: Mapping[str, str] = field(default_factory=dict)

    def mail(self) -> OutgoingMail:
        return OutgoingMail(
            delivery_id=self.id,
            user_id=self.user_id,
            kind=self.kind,
            email=self.email,
            subject=self.subject,
            body=self.body,
            subscription_ref=self.subscription_ref,
        )
