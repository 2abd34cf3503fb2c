"""One interceptor for every call shape: the bearer token, a request id and a default deadline."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import grpc

REQUEST_ID = "x-request-id"
AUTHORIZATION = "authorization"


class CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class ClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds what the caller left out: `authorization: Bearer <token()>` when there is a token, an
    `x-request-id` (`request_id`, else a fresh uuid4 per call) and the deadline `timeout`."""

    def __init__(self, token: Callable[[], str | None], request_id: str | None, timeout: float) -> None:
        self._token = token
        self._request_id = request_id
        self._timeout = timeout

    def details(self, call: grpc.ClientCallDetails) -> CallDetails:
        metadata = list(call.metadata or ())
        present = {key.lower() for key, _ in metadata}
        token = self._token()
        if token and AUTHORIZATION not in present:
            metadata.append((AUTHORIZATION, f"Bearer {token}"))
        if REQUEST_ID not in present:
            metadata.append((REQUEST_ID, self._request_id or str(uuid.uuid4())))
        return CallDetails(
            method=call.method,
            timeout=self._timeout if call.timeout is None else call.timeout,
            metadata=tuple(metadata),
            credentials=call.credentials,
            wait_for_ready=getattr(call, "wait_for_ready", None),
            compression=getattr(call, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self.details(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self.details(client_call_details), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[..., Any],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return continuation(self.details(client_call_details), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return continuation(self.details(client_call_details), request_iterator)
