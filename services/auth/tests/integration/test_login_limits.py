"""Login limits over real gRPC and Redis: guessing is slowed, the owner is not locked out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

import grpc
import pytest
from redis.asyncio import Redis

from support.accounts import unique
from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from tm_auth.adapters.known_addresses import KnownAddresses
from tm_auth.bootstrap import build
from tm_auth.config import AuthSettings
from tm_auth.service.login_limits import LoginLimits
from tm_common.ratelimit import RateLimiter
from tm_common.server import start_server
from tm_devstack.ports import free_port

PASSWORD = "correct horse"
PER_PAIR, CEILING = 3, 6  # per (username, address); per username from addresses it never used


@pytest.fixture
async def stub(make_auth_settings) -> AsyncIterator[auth_pb2_grpc.AuthServiceStub]:
    settings = make_auth_settings(
        login_limit_per_address=1000,
        login_limit_per_username_address=PER_PAIR,
        login_limit_per_username=CEILING,
    )
    running = await start_server(build(settings), settings, address="127.0.0.1:0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield auth_pb2_grpc.AuthServiceStub(channel)
    await running.stop(0)


async def new_user(stub: auth_pb2_grpc.AuthServiceStub) -> str:
    name = unique("owner")
    await stub.Register(
        auth_pb2.RegisterRequest(username=name, email=f"{name}@example.com", password=PASSWORD)
    )
    return name


def login(stub, username: str, address: str, password: str = PASSWORD) -> Awaitable[auth_pb2.LoginResponse]:
    request = auth_pb2.LoginRequest(username=username, password=password)
    return stub.Login(request, metadata=(("x-forwarded-for", address),))


async def outcome(call: Awaitable[auth_pb2.LoginResponse]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_a_stranger_is_slowed_and_the_owner_logs_in_from_elsewhere(stub) -> None:
    owner, stranger = unique("home"), unique("stranger")
    name = await new_user(stub)
    guesses = [await outcome(login(stub, name, stranger, "wrong password")) for _ in range(PER_PAIR)]
    with pytest.raises(grpc.aio.AioRpcError) as limited:
        await login(stub, name, stranger)  # even with the right password
    assert await outcome(login(stub, name, owner)) == grpc.StatusCode.OK  # a new address, too
    assert guesses == [grpc.StatusCode.UNAUTHENTICATED] * PER_PAIR
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 0 < int(dict(limited.value.trailing_metadata())["retry-after"]) <= 900


async def test_guesses_from_many_addresses_meet_a_ceiling_that_the_owners_address_skips(stub) -> None:
    home = unique("home")
    name = await new_user(stub)
    await login(stub, name, home)  # home becomes known (this first attempt counted: it was not yet)
    bots = CEILING - 1
    spread = [await outcome(login(stub, name, unique("bot"), "wrong password")) for _ in range(bots)]
    slowed = await outcome(login(stub, name, unique("bot"), "wrong password"))
    assert await outcome(login(stub, name, home)) == grpc.StatusCode.OK
    assert spread == [grpc.StatusCode.UNAUTHENTICATED] * bots
    assert slowed == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The price: while the ceiling is spent, the owner cannot log in from an address never used.
    assert await outcome(login(stub, name, unique("cafe"))) == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_success_forgets_the_failures_of_its_address(stub) -> None:
    home = unique("home")
    name = await new_user(stub)
    for _ in range(3):
        for _ in range(PER_PAIR - 1):
            assert await outcome(login(stub, name, home, "typo")) == grpc.StatusCode.UNAUTHENTICATED
        assert await outcome(login(stub, name, home)) == grpc.StatusCode.OK


async def test_a_redis_outage_lets_logins_through(make_auth_settings) -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    settings: AuthSettings = make_auth_settings(login_limit_per_address=1, login_limit_per_username_address=1)
    limits = LoginLimits(settings, RateLimiter(redis, "test"), KnownAddresses(redis, "test", 60))
    for _ in range(5):
        await limits.admit("alice", "198.51.100.7")
        await limits.succeeded("alice", "198.51.100.7")
    await redis.aclose()
