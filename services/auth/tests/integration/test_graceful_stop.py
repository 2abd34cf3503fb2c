"""Stopping a server (what SIGTERM does) lets in-flight RPCs finish and refuses new work."""

from __future__ import annotations

import asyncio

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from support.accounts import unique
from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from tm_auth.bootstrap import build
from tm_common.server import start_server

IN_FLIGHT = 8
WAITING_ON_USERS = """
SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE c.relname = 'users' AND NOT l.granted
"""


async def test_in_flight_rpcs_finish_when_the_server_stops(stack, make_auth_settings) -> None:
    # Room for every call's transaction at once: the pool is a share of DB_MAX_CONNECTIONS, and a
    # call that waits for a pool slot is not yet waiting on the lock.
    settings = make_auth_settings().model_copy(update={"db_max_connections": 2 * IN_FLIGHT + 4})
    running = await start_server(build(settings), settings, address="127.0.0.1:0")
    address = f"127.0.0.1:{running.port}"
    admin = psycopg.conninfo.make_conninfo(stack.admin_url, dbname=stack.database)
    async with await psycopg.AsyncConnection.connect(admin) as blocker:
        # Every registration now waits on this lock inside the server: provably in flight.
        await blocker.execute("LOCK TABLE auth.users IN ACCESS EXCLUSIVE MODE")
        async with grpc.aio.insecure_channel(address) as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            names = [unique("stop") for _ in range(IN_FLIGHT)]
            calls = [
                asyncio.ensure_future(
                    stub.Register(
                        auth_pb2.RegisterRequest(username=n, email=f"{n}@example.com", password="password123")
                    )
                )
                for n in names
            ]
            async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as observer:
                # Polling the database: there is no event to wait on.
                while (await (await observer.execute(WAITING_ON_USERS)).fetchone())[0] < IN_FLIGHT:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            stopping = asyncio.create_task(running.stop(grace=30))
            await asyncio.sleep(0.2)  # the server is now draining
            await blocker.rollback()  # release the lock
            users = await asyncio.gather(*calls)
            assert sorted(u.username for u in users) == sorted(names)
            await stopping
    async with grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_liveness_ignores_dependencies_readiness_does_not(make_auth_settings) -> None:
    """A database outage makes the server NOT_SERVING (unready) but it stays live: an outage
    must not get pods restarted."""
    settings = make_auth_settings().model_copy(
        update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:9/x"}
    )
    running = await start_server(build(settings), settings, address="127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(100):  # the first dependency check runs right after the start
                ready = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                if ready.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                    break
                await asyncio.sleep(0.1)
            assert ready.status == health_pb2.HealthCheckResponse.NOT_SERVING
            live = await health.Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=5)
            assert live.status == health_pb2.HealthCheckResponse.SERVING
            await running.health.enter_graceful_shutdown()
            live = await health.Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=5)
            assert live.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await running.stop(0)
