"""A peer that stops for a while and comes back on the same address is reached again at once by
the channels that call it (tm_common.clients): not after gRPC's default reconnect backoff, which
has grown to several seconds by then, during which every call failed at once ("failed to connect
to all addresses") although the peer was serving again."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from tm_common.clients import plain_channel, service_channel
from tm_devstack.ports import free_port

# Long enough for gRPC's default backoff (1 s, growing 1.6 times per attempt, jitter 20%) to have
# its next attempt more than DEADLINE after the peer is back, whatever the jitter drew.
OUTAGE_SECONDS = 8.0
DEADLINE = 1.5


async def _serve(port: int) -> grpc.aio.Server:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


async def _check(channel: grpc.aio.Channel, wait_for_ready: bool | None = None) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=DEADLINE, wait_for_ready=wait_for_ready)
    return reply.status


async def test_a_restarted_peer_is_called_again_within_a_second() -> None:
    port = free_port()
    server = await _serve(port)
    async with service_channel(f"127.0.0.1:{port}") as calls, plain_channel(f"127.0.0.1:{port}") as probes:
        assert await _check(calls) == await _check(probes) == health_pb2.HealthCheckResponse.SERVING
        await server.stop(0)
        probe = _check(probes)
        try:
            await probe
        except grpc.aio.AioRpcError as error:  # a probe fails at once while the peer is away
            assert error.code() == grpc.StatusCode.UNAVAILABLE
        else:
            raise AssertionError("a stopped peer answered")
        await asyncio.sleep(OUTAGE_SECONDS)
        server = await _serve(port)
        try:
            # A request's call waits for the connection (within its deadline) by default; a
            # probe that asks to wait finds it made again within the deadline too.
            assert await _check(calls) == health_pb2.HealthCheckResponse.SERVING
            assert await _check(probes, wait_for_ready=True) == health_pb2.HealthCheckResponse.SERVING
        finally:
            await server.stop(0)
