"""Conversions between Python values and protobuf well-known types, shared by servicers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def optional(message: Message, field: str) -> Any:
    """The value of a proto3 `optional` field, or None when it is unset."""
    return getattr(message, field) if message.HasField(field) else None
