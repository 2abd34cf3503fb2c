"""The one server interceptor every service runs.

Per RPC it: adopts the request id Envoy generated (or makes one), refuses an internal-only RPC to a
caller whose certificate does not name an allowed service (with TLS on: tm_common.identity),
verifies the bearer token unless the method is public, maps domain errors to a rich
google.rpc.Status, hides unexpected errors behind INTERNAL, writes one access-log line, counts the
RPC in the gRPC server metrics (tm_common.metrics) with the status code the caller gets, and runs
it in its request's trace (tm_common.tracing: an unsampled request without spans).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
import psycopg
import psycopg_pool
import sqlalchemy.exc
from grpc_status import rpc_status

from tm_common import decoding, identity, metrics, tracing
from tm_common.context import principal_var, request_id_var
from tm_common.errors import INTERNAL_STATUS, UNAVAILABLE_STATUS, DomainError, PermissionDenied, to_rpc_status
from tm_common.http import gateway_metadata, pending_headers, pending_http_status, pending_trailers
from tm_common.tokens import TokenVerifier, bearer_token

log = logging.getLogger("tm.access")

REQUEST_ID_HEADER = "x-request-id"
# A dependency that is down or unreachable: the caller may retry (503), it is not our bug (500).
OUTAGES = (
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)
SERVER_FAULTS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE})


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self, verifier: TokenVerifier, public_methods: Iterable[str], *, check_identity: bool = False
    ) -> None:
        """`check_identity`: the server speaks mTLS, so every caller has a verified name, and
        internal-only RPCs are refused to names not allowed to call them."""
        self._verifier = verifier
        self._public = frozenset(public_methods)
        self._check_identity = check_identity

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        metadata = {k: v for k, v in (handler_call_details.invocation_metadata or ())}
        call = _Call(self, method, metadata, metrics.for_method(method, metrics.rpc_type(handler)))
        # Bad request bytes reach the behaviour as an Undecodable, which it turns into a 400.
        deserializer = decoding.tolerant(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                call.unary(handler.unary_unary), deserializer, handler.response_serializer
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                call.unary(handler.stream_unary, streaming=True), deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                call.stream(handler.unary_stream), deserializer, handler.response_serializer
            )
        assert handler.stream_stream is not None  # the only kind left
        return grpc.stream_stream_rpc_method_handler(
            call.stream(handler.stream_stream, streaming=True), deserializer, handler.response_serializer
        )


def _set_trailers(context: grpc.aio.ServicerContext) -> None:
    trailers = pending_trailers.get()
    if trailers:
        context.set_trailing_metadata(trailers)


def _checked(request: Any, streaming: bool) -> Any:
    return decoding.checked_stream(request) if streaming else decoding.check(request)


class _Call:
    """The wrapping of one RPC's behaviour."""

    def __init__(
        self, owner: ServiceInterceptor, method: str, metadata: dict[str, Any], rpc: metrics.RpcMetrics
    ) -> None:
        self.owner = owner
        self.method = method
        self.metadata = metadata
        self.rpc = rpc
        self.code = grpc.StatusCode.OK
        self.started = 0.0
        self.ended = False

    def unary(
        self, behaviour: Callable[..., Awaitable[Any]], streaming: bool = False
    ) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            self._begin()
            with tracing.in_request_trace(self.metadata):
                try:
                    await self._authenticate(context)
                    request = _checked(request, streaming)
                    response = await behaviour(request, context)
                    await self._send_gateway_metadata(context)
                    _set_trailers(context)
                    self._adopt_set_code(context)
                    return response
                except Exception as exc:
                    await self._fail(exc, context)
                except BaseException:
                    self._cancelled(context)
                    raise
                finally:
                    self._end()

        return wrapped

    def stream(
        self, behaviour: Callable[..., Any], streaming: bool = False
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            self._begin()
            with tracing.in_request_trace(self.metadata):
                try:
                    await self._authenticate(context)
                    request = _checked(request, streaming)
                    first = True
                    async for item in behaviour(request, context):
                        if first:
                            await self._send_gateway_metadata(context)
                            first = False
                        yield item
                    _set_trailers(context)
                    self._adopt_set_code(context)
                except Exception as exc:
                    await self._fail(exc, context)
                except BaseException:
                    self._cancelled(context)
                    raise
                finally:
                    self._end()

        return wrapped

    def _begin(self) -> None:
        request_id = self.metadata.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        request_id_var.set(str(request_id))
        principal_var.set(None)
        pending_http_status.set(None)
        pending_headers.set(())
        pending_trailers.set(())
        self.rpc.started.inc()
        self.started = time.perf_counter()

    def _adopt_set_code(self, context: grpc.aio.ServicerContext) -> None:
        """A behaviour may set a status with context.set_code and return: that is the RPC's code."""
        code = context.code()
        if isinstance(code, grpc.StatusCode):
            self.code = code

    def _cancelled(self, context: grpc.aio.ServicerContext) -> None:
        """The client went away (cancelled, or its deadline passed) or the server is stopping."""
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        self.code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED

    async def _send_gateway_metadata(self, context: grpc.aio.ServicerContext) -> None:
        metadata = gateway_metadata(self.method)
        if metadata:
            await context.send_initial_metadata(metadata)

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> None:
        # Before the token: a user's valid token must not open an internal RPC.
        if (
            self.owner._check_identity
            and identity.is_internal(self.method)  # the certificate is read for those only
            and not identity.may_call(self.method, identity.caller_identity(context))
        ):
            raise PermissionDenied("this method is for other services of the system only")
        if self.method in self.owner._public:
            return
        token = bearer_token(self.metadata.get("authorization"))
        principal_var.set(await self.owner._verifier.verify(token))

    async def _fail(self, exc: Exception, context: grpc.aio.ServicerContext) -> None:
        if isinstance(exc, grpc.aio.AbortError):
            code = context.code()
            self.code = code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
            raise exc
        if isinstance(exc, DomainError):
            self.code = exc.code
            status = rpc_status.to_status(to_rpc_status(exc))
            metadata = (*status.trailing_metadata, *exc.trailing_metadata())
            await self._abort(context, status.code, status.details, metadata)
        if isinstance(exc, OUTAGES):
            log.warning("dependency unavailable in %s: %s", self.method, type(exc).__name__)
            self.code = grpc.StatusCode.UNAVAILABLE
            status = rpc_status.to_status(UNAVAILABLE_STATUS)
            await self._abort(context, status.code, status.details, status.trailing_metadata)
        log.exception("unhandled error in %s", self.method)
        self.code = grpc.StatusCode.INTERNAL
        status = rpc_status.to_status(INTERNAL_STATUS)
        await self._abort(context, status.code, status.details, status.trailing_metadata)

    async def _abort(
        self, context: grpc.aio.ServicerContext, code: grpc.StatusCode, details: str, metadata: Any
    ) -> None:
        # abort() sends the status before it raises: count the RPC first, so that whoever has
        # the answer finds it counted.
        self._end()
        await context.abort(code, details, metadata)

    def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        seconds = time.perf_counter() - self.started
        self.rpc.handled(self.code, seconds)
        # Envoy logs every request it passes; here successes are DEBUG (one line per RPC cost
        # ~10% of a simple read) and failures INFO, or WARNING when they are ours.
        level = (
            logging.DEBUG
            if self.code == grpc.StatusCode.OK
            else logging.WARNING
            if self.code in SERVER_FAULTS
            else logging.INFO
        )
        if log.isEnabledFor(level):
            log.log(
                level,
                "rpc",
                extra={
                    "method": self.method,
                    "code": self.code.name,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
