"""The event envelope every producer writes and every consumer reads (taskmanager.events.v1)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.message import DecodeError, Message

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.context import principal_var
from tm_common.convert import timestamp
from tm_common.tracing import inject

# Bumped only on an incompatible change of EventEnvelope; consumers dead-letter other versions.
SCHEMA_VERSION = 1


class UndecodableEvent(ValueError):
    """A stream entry that is not an event of a schema this consumer knows (never retried)."""


def caller_username(user_id: int) -> str:
    """The username of the caller of the current RPC, when `user_id` is that caller."""
    principal = principal_var.get()
    return principal.username if principal is not None and principal.user_id == user_id else ""


# The type of each payload, by the field of EventEnvelope's `payload` oneof that carries it: a
# consumer can skip an event by its type without decoding the payload.
EVENT_TYPES = {
    "task_created": "task.created",
    "task_updated": "task.updated",
    "task_completed": "task.completed",
    "task_deleted": "task.deleted",
    "tags_added": "task.tags_added",
    "tag_removed": "task.tag_removed",
    "task_shared": "task.shared",
    "share_permission_changed": "task.share_permission_changed",
    "task_unshared": "task.unshared",
    "task_due_soon": "task.due_soon",
    "comment_added": "comment.added",
    "comment_updated": "comment.updated",
    "comment_deleted": "comment.deleted",
    "file_uploaded": "file.uploaded",
    "file_deleted": "file.deleted",
    "user_registered": "user.registered",
}
_PAYLOAD_FIELDS = {  # payload message name -> the oneof field that carries it
    field.message_type.full_name: field.name
    for field in EventEnvelope.DESCRIPTOR.oneofs_by_name["payload"].fields
    if field.message_type is not None
}


def envelope(
    payload: Message,
    producer: str,
    actor_user_id: int,
    *,
    actor_username: str | None = None,
    task_id: int | None = None,
    task_owner_user_id: int | None = None,
    task_title: str | None = None,
    audience: Iterable[int] = (),
) -> EventEnvelope:
    """A new event carrying `payload` (one of the payload messages), of the type that payload
    names, with a fresh id, the current time and the current trace context. The actor's username
    is the caller's when the actor is the caller, unless given."""
    field = _PAYLOAD_FIELDS[payload.DESCRIPTOR.full_name]
    event = EventEnvelope(
        event_id=str(uuid.uuid4()),
        type=EVENT_TYPES[field],
        occurred_at=timestamp(datetime.now(UTC)),
        actor_user_id=actor_user_id,
        actor_username=caller_username(actor_user_id) if actor_username is None else actor_username,
        audience_user_ids=sorted(set(audience)),
        schema_version=SCHEMA_VERSION,
        producer=producer,
    )
    getattr(event, field).CopyFrom(payload)
    inject(event.trace_context)  # the consumers' spans join the trace of the request
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
    field = event.WhichOneof("payload")
    if field is None or EVENT_TYPES.get(field) != event.type:
        raise UndecodableEvent("the event has no payload, or a type that is not its payload's")
    return event
