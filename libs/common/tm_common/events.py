"""The event envelope every producer writes and every consumer reads (taskmanager.events.v1)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.message import DecodeError

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.context import principal_var
from tm_common.convert import timestamp

# Bumped only on an incompatible change of EventEnvelope; consumers dead-letter other versions.
SCHEMA_VERSION = 1


class UndecodableEvent(ValueError):
    """A stream entry that is not an event of a schema this consumer knows (never retried)."""


def actor_username(user_id: int) -> str:
    """The username of the caller of the current RPC, when `user_id` is that caller."""
    principal = principal_var.get()
    return principal.username if principal is not None and principal.user_id == user_id else ""


def envelope(
    event_type: str,
    producer: str,
    actor_user_id: int,
    *,
    task_id: int | None = None,
    task_owner_user_id: int | None = None,
    task_title: str | None = None,
    audience: Iterable[int] = (),
) -> EventEnvelope:
    """A new event with a fresh id and the current time; the caller sets the payload."""
    event = EventEnvelope(
        event_id=str(uuid.uuid4()),
        type=event_type,
        occurred_at=timestamp(datetime.now(UTC)),
        actor_user_id=actor_user_id,
        actor_username=actor_username(actor_user_id),
        audience_user_ids=sorted(set(audience)),
        schema_version=SCHEMA_VERSION,
        producer=producer,
    )
    if task_id is not None:
        event.task_id = task_id
    if task_owner_user_id is not None:
        event.task_owner_user_id = task_owner_user_id
    if task_title is not None:
        event.task_title = task_title
    return event


def decode(payload: bytes) -> EventEnvelope:
    """An envelope from a stream entry's payload; UndecodableEvent for anything else."""
    try:
        event = EventEnvelope.FromString(payload)
    except DecodeError as exc:
        raise UndecodableEvent(f"not an EventEnvelope: {exc}") from exc
    if event.schema_version != SCHEMA_VERSION:
        raise UndecodableEvent(f"schema_version {event.schema_version} is not {SCHEMA_VERSION}")
    try:
        uuid.UUID(event.event_id)
    except ValueError as exc:
        raise UndecodableEvent(f"event_id {event.event_id!r} is not a UUID") from exc
    if not event.type or event.WhichOneof("payload") is None:
        raise UndecodableEvent("the event has no type or no payload")
    return event
