"""Hints for the gateway, sent as initial metadata, which Envoy's Lua filter acts on:

* `x-http-code`: the HTTP status for JSON clients (201 for creates, 204 for deletes, 503, ...);
* `x-response-body`: the response field whose value is the whole JSON body (the method's
  `response_body` in its google.api.http rule, which Envoy 1.40 cannot apply itself).

Use cases call `set_http_status` (and `set_response_header` for other headers); the server
interceptor sends the metadata once, with the reply.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache

import grpc
from google.api import annotations_pb2
from google.protobuf import descriptor_pool

HTTP_CODE_HEADER = "x-http-code"
RESPONSE_BODY_HEADER = "x-response-body"

pending_http_status: ContextVar[int | None] = ContextVar("pending_http_status", default=None)
# Response headers for HTTP clients (e.g. Content-Disposition): initial metadata, which Envoy
# passes on as headers.
pending_headers: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("pending_headers", default=())


def set_http_status(code: int) -> None:
    pending_http_status.set(code)


def created() -> None:
    set_http_status(201)


def no_content() -> None:
    set_http_status(204)


def set_response_header(name: str, value: str) -> None:
    pending_headers.set((*pending_headers.get(), (name.lower(), value)))


# Trailing metadata of a successful reply (what native gRPC clients read after the message).
pending_trailers: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("pending_trailers", default=())


def set_response_trailer(name: str, value: str) -> None:
    pending_trailers.set((*pending_trailers.get(), (name.lower(), value)))


@cache
def response_body_field(method: str) -> str:
    """The `response_body` of a method's HTTP rule, from its gRPC path `/pkg.Service/Method`."""
    service, _, name = method.strip("/").partition("/")
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    except KeyError:
        return ""
    options = descriptor.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return ""
    return str(options.Extensions[annotations_pb2.http].response_body)


def gateway_metadata(method: str) -> tuple[tuple[str, str], ...]:
    """The initial metadata to send with a successful reply of `method`."""
    metadata: list[tuple[str, str]] = []
    code = pending_http_status.get()
    if code is not None:
        metadata.append((HTTP_CODE_HEADER, str(code)))
    field = response_body_field(method)
    if field:
        metadata.append((RESPONSE_BODY_HEADER, field))
    metadata.extend(pending_headers.get())
    return tuple(metadata)


def client_address(context: grpc.aio.ServicerContext) -> str:
    """The end client's address: the one Envoy asserts, else the last forwarded hop, else the peer.

    Only Envoy and other services reach a service, so these headers are trusted for keying rate
    limits; they are never used to grant access.
    """
    metadata = {k: v for k, v in context.invocation_metadata() or ()}
    external = metadata.get("x-envoy-external-address")
    if external:
        return str(external)
    forwarded = str(metadata.get("x-forwarded-for") or "")
    if forwarded:
        return forwarded.split(",")[-1].strip()
    peer = context.peer() or "unknown"  # "ipv4:127.0.0.1:5555" / "ipv6:[::1]:5555"
    kind, _, rest = peer.partition(":")
    return rest.rsplit(":", 1)[0].strip("[]") if kind in ("ipv4", "ipv6") else peer
