"""The gRPC server metrics, counted by the common interceptor on a real in-process grpc.aio server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from tm_common.errors import NotFound
from tm_common.interceptors import ServiceInterceptor
from tm_common.tokens import TokenVerifier

SERVICE = "test.metrics.v1.Probe"
PUBLIC = [f"/{SERVICE}/{name}" for name in ("Ok", "Missing", "Denied", "Broken", "SetCode", "Slow")]
PUBLIC += [f"/{SERVICE}/{name}" for name in ("Items", "ItemsThenMissing", "Echo")]


async def ok(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def missing(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise NotFound("no such thing")


async def denied(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")
    raise AssertionError("abort returned")


async def broken(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise RuntimeError("a bug")


async def set_code(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    context.set_code(grpc.StatusCode.ALREADY_EXISTS)
    context.set_details("there already")
    return b""


async def slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.Event().wait()  # until the client's deadline cancels it
    return b""


async def items(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for item in (b"a", b"b", b"c"):
        yield item


async def items_then_missing(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    yield b"a"
    raise NotFound("gone")


async def echo(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    async for request in requests:
        yield request


async def no_keys() -> list[dict[str, Any]]:
    return []


@pytest.fixture(scope="module")
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    handlers = {
        "Ok": grpc.unary_unary_rpc_method_handler(ok),
        "Missing": grpc.unary_unary_rpc_method_handler(missing),
        "Denied": grpc.unary_unary_rpc_method_handler(denied),
        "Broken": grpc.unary_unary_rpc_method_handler(broken),
        "SetCode": grpc.unary_unary_rpc_method_handler(set_code),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Private": grpc.unary_unary_rpc_method_handler(ok),
        "Items": grpc.unary_stream_rpc_method_handler(items),
        "ItemsThenMissing": grpc.unary_stream_rpc_method_handler(items_then_missing),
        "Echo": grpc.stream_stream_rpc_method_handler(echo),
    }
    verifier = TokenVerifier(no_keys, issuer="test", audience="test")
    server = grpc.aio.server(interceptors=[ServiceInterceptor(verifier, PUBLIC)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(0)


def handled(method: str, code: str, kind: str = "UNARY") -> float:
    labels = {"grpc_service": SERVICE, "grpc_method": method, "grpc_type": kind, "grpc_code": code}
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


def started(method: str, kind: str = "UNARY") -> float:
    labels = {"grpc_service": SERVICE, "grpc_method": method, "grpc_type": kind}
    return REGISTRY.get_sample_value("grpc_server_started_total", labels) or 0.0


def observed(method: str, kind: str = "UNARY") -> float:
    labels = {"grpc_service": SERVICE, "grpc_method": method, "grpc_type": kind}
    return REGISTRY.get_sample_value("grpc_server_handling_seconds_count", labels) or 0.0


async def eventually(check: Callable[[], bool], what: str) -> None:
    """The server records a cancelled RPC after the client has its error: poll, never sleep blindly."""
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{what}: not within 10 s")


async def call(channel: grpc.aio.Channel, method: str, **kwargs: Any) -> grpc.StatusCode:
    try:
        await channel.unary_unary(f"/{SERVICE}/{method}")(b"x", **kwargs)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_a_success_is_started_handled_ok_and_timed(channel: grpc.aio.Channel) -> None:
    before = (started("Ok"), handled("Ok", "OK"), observed("Ok"))
    assert await call(channel, "Ok") == grpc.StatusCode.OK
    assert await call(channel, "Ok") == grpc.StatusCode.OK
    assert (started("Ok"), handled("Ok", "OK"), observed("Ok")) == tuple(n + 2 for n in before)


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("Missing", grpc.StatusCode.NOT_FOUND),  # a domain error
        ("Denied", grpc.StatusCode.PERMISSION_DENIED),  # context.abort in the behaviour
        ("Broken", grpc.StatusCode.INTERNAL),  # an unexpected exception
        ("SetCode", grpc.StatusCode.ALREADY_EXISTS),  # context.set_code, then return
        ("Private", grpc.StatusCode.UNAUTHENTICATED),  # refused by the interceptor, no token
    ],
)
async def test_a_failure_is_counted_with_the_code_the_client_gets(
    channel: grpc.aio.Channel, method: str, code: grpc.StatusCode
) -> None:
    before_code, before_ok, before_started = (
        handled(method, code.name),
        handled(method, "OK"),
        started(method),
    )
    assert await call(channel, method) == code
    # A behaviour's own context.abort sends the status before the interceptor sees the error.
    await eventually(lambda: handled(method, code.name) == before_code + 1, f"{method} counted")
    assert handled(method, "OK") == before_ok
    assert started(method) == before_started + 1


async def test_a_call_the_client_cancels_is_counted_as_cancelled(channel: grpc.aio.Channel) -> None:
    before_started, before = started("Slow"), handled("Slow", "CANCELLED")
    call = channel.unary_unary(f"/{SERVICE}/Slow")(b"x")
    await eventually(lambda: started("Slow") == before_started + 1, "Slow started")
    call.cancel()
    await eventually(lambda: handled("Slow", "CANCELLED") == before + 1, "Slow counted as cancelled")
    assert handled("Slow", "OK") == 0


async def test_a_deadline_that_passes_is_counted_as_deadline_exceeded_or_cancelled(
    channel: grpc.aio.Channel,
) -> None:
    """The server's deadline is the client's plus the transit; the client's RST_STREAM may come first."""

    def ended() -> float:
        return handled("Slow", "DEADLINE_EXCEEDED") + handled("Slow", "CANCELLED")

    before = ended()
    assert await call(channel, "Slow", timeout=0.2) == grpc.StatusCode.DEADLINE_EXCEEDED
    await eventually(lambda: ended() == before + 1, "Slow counted")
    assert handled("Slow", "OK") == 0


async def test_server_streams_are_counted_once_per_call_with_their_code(channel: grpc.aio.Channel) -> None:
    before_ok = handled("Items", "OK", "SERVER_STREAM")
    before_missing = handled("ItemsThenMissing", "NOT_FOUND", "SERVER_STREAM")
    assert [item async for item in channel.unary_stream(f"/{SERVICE}/Items")(b"x")] == [b"a", b"b", b"c"]
    stream = channel.unary_stream(f"/{SERVICE}/ItemsThenMissing")(b"x")
    with pytest.raises(grpc.aio.AioRpcError) as error:
        _ = [item async for item in stream]
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert handled("Items", "OK", "SERVER_STREAM") == before_ok + 1
    assert handled("ItemsThenMissing", "NOT_FOUND", "SERVER_STREAM") == before_missing + 1


async def test_bidirectional_streams_carry_their_type(channel: grpc.aio.Channel) -> None:
    before = handled("Echo", "OK", "BIDI_STREAM")

    async def requests() -> AsyncIterator[bytes]:
        for item in (b"1", b"2"):
            yield item

    replies = [item async for item in channel.stream_stream(f"/{SERVICE}/Echo")(requests())]
    assert replies == [b"1", b"2"]
    assert handled("Echo", "OK", "BIDI_STREAM") == before + 1
    assert started("Echo", "BIDI_STREAM") >= 1


async def test_errors_the_interceptor_answers_are_counted_before_the_caller_has_them(
    channel: grpc.aio.Channel,
) -> None:
    """So a scrape right after a response finds it counted (tests/e2e/test_metrics.py relies on it)."""
    for _ in range(50):
        for method, code in (("Private", "UNAUTHENTICATED"), ("Missing", "NOT_FOUND"), ("Ok", "OK")):
            before = handled(method, code)
            await call(channel, method)
            assert handled(method, code) == before + 1, method
