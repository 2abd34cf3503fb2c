"""Conversions between Python values and protobuf well-known types, shared by servicers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def optional(message: Message, field: str) -> Any:
    """The value of a proto3 `optional` field, or None when it is unset."""
    return getattr(message, field) if message.HasField(field) else None


M = TypeVar("M", bound=Message)


def recast(message: Message, into: type[M]) -> M:
    """`message` read as `into`, a message type with the same fields (numbers and types): an API
    message as the event snapshot of the same entity, so each entity is mapped once."""
    return into.FromString(message.SerializeToString())
