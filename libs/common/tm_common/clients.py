"""Channels for calling other services: every call carries the current request id, the trace
(a client span and its traceparent, tm_common.tracing) and, unless the caller set one, the end
user's token, so the next hop logs the same ids and re-verifies the same user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from tm_common.context import principal_var, request_id_var
from tm_common.interceptors import REQUEST_ID_HEADER
from tm_common.tracing import client_interceptors, inject


def propagated_metadata(metadata: Any) -> grpc.aio.Metadata:
    merged = grpc.aio.Metadata(*(metadata or ()))
    request_id = request_id_var.get()
    if request_id and REQUEST_ID_HEADER not in merged:
        merged[REQUEST_ID_HEADER] = request_id
    if "traceparent" not in merged:  # no client span (an unsampled request): the caller's trace
        carrier: dict[str, str] = {}
        inject(carrier)
        for key, value in carrier.items():
            merged[key] = value
    principal = principal_var.get()
    if principal is not None and "authorization" not in merged:
        merged["authorization"] = f"Bearer {principal.token}"
    return merged


def _with_context(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=propagated_metadata(details.metadata),
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _Propagate(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return await continuation(_with_context(details), request)

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return await continuation(_with_context(details), request)

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return await continuation(_with_context(details), requests)

    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return await continuation(_with_context(details), requests)


# Headers (metadata) a server or client accepts. gRPC's default hard limit, 16 KiB, is less than
# what the gateway lets through (32 KiB of request headers, plus the original path it adds), and an
# error's headers can approach it: past the limit gRPC answers RESOURCE_EXHAUSTED, a misleading 429.
METADATA_BYTES = 64 * 1024
METADATA_OPTIONS = [
    ("grpc.max_metadata_size", METADATA_BYTES),
    ("grpc.absolute_max_metadata_size", METADATA_BYTES),
]


def service_channel(address: str, max_message_bytes: int = 32 * 1024 * 1024) -> grpc.aio.Channel:
    """A channel to another service that propagates the request context."""
    return grpc.aio.insecure_channel(
        address,
        # grpc-stubs predate aio interceptors
        interceptors=[*client_interceptors(), _Propagate()],  # type: ignore[list-item]
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            *METADATA_OPTIONS,
        ],
    )
