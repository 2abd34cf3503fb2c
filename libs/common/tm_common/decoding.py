"""Decoding requests without letting bad bytes become a 500.

gRPC's Python server turns an exception in a request deserializer into UNKNOWN with the
exception's text (the message type's name included). The commonest cause is a string field that
is not valid UTF-8 (`?search=%ff` through the gateway arrives as the byte 0xff). Here a request
that cannot be decoded becomes an InvalidArgument naming the offending field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from tm_common.errors import InvalidArgument

MAX_DEPTH = 32  # protobuf's own recursion limit is 100; our messages nest 3 deep


class Undecodable:
    """Stands in for a request whose bytes did not parse; the interceptor raises `error`."""

    def __init__(self, error: InvalidArgument) -> None:
        self.error = error


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer` (a message class's FromString), returning an Undecodable instead of raising."""
    if deserializer is None:
        return None
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return Undecodable(undecodable_error(descriptor, data))

    return deserialize


def undecodable_error(descriptor: Descriptor | None, data: bytes) -> InvalidArgument:
    field = bad_utf8_field(descriptor, data) if descriptor is not None else None
    if field is not None:
        return InvalidArgument.for_field(field, "is not valid UTF-8 text")
    return InvalidArgument("the request is not a valid protobuf message")


def check(request: Any) -> Any:
    """The request, or the error its bytes deserved."""
    if isinstance(request, Undecodable):
        raise request.error
    return request


async def checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield check(request)


def bad_utf8_field(descriptor: Descriptor, data: bytes, prefix: str = "", depth: int = 0) -> str | None:
    """The path of the first string field in `data` that is not UTF-8 (None if there is none or
    the bytes are malformed in another way). Walks the wire format with the message's descriptor."""
    if depth > MAX_DEPTH:
        return None
    try:
        for number, value in _length_delimited(data):
            field = descriptor.fields_by_number.get(number)
            if field is None:
                continue
            name = f"{prefix}{field.name}"
            if field.type == FieldDescriptor.TYPE_STRING:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    return name
            elif field.type == FieldDescriptor.TYPE_MESSAGE and (nested := field.message_type):
                found = bad_utf8_field(nested, value, f"{name}.", depth + 1)
                if found is not None:
                    # JSON shows a google.protobuf.Value (or Struct, ...) as a plain value: name it
                    return name if nested.full_name.startswith("google.protobuf.") else found
    except IndexError:
        return None
    return None


def _length_delimited(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(field number, bytes) of every length-delimited field; IndexError on truncated input."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, pos = _varint(data, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise IndexError("truncated")
            yield number, data[pos : pos + length]
            pos += length
        else:  # groups (deprecated, unused here) or garbage
            raise IndexError("unsupported wire type")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")
