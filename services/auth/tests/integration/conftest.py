"""An auth server in this process, on a free port, against the stack's Postgres and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from tm_auth.bootstrap import build
from tm_auth.config import AuthSettings
from tm_common.server import start_server
from tm_devstack.services import SERVICES


def auth_settings(stack, **overrides) -> AuthSettings:
    """Settings of an auth server against the stack's Postgres, Redis and signing keys."""
    spec = next(s for s in SERVICES if s.name == "auth")
    return AuthSettings(
        database_url=stack.service_database_url(spec),
        redis_url=stack.redis_url,
        jwt_keys_dir=stack.data / "secrets" / "jwt",
        jwt_generate_key=False,
        **overrides,
    )


@pytest.fixture
def make_auth_settings(stack):
    return lambda **overrides: auth_settings(stack, **overrides)


@pytest.fixture(scope="session")
async def auth_server(stack) -> AsyncIterator[str]:
    settings = auth_settings(stack, login_limit_per_address=25, login_limit_per_username=5)
    running = await start_server(build(settings), settings, address="127.0.0.1:0")
    yield f"127.0.0.1:{running.port}"
    await running.stop(0)


@pytest.fixture
async def channel(auth_server: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(auth_server) as channel:
        yield channel
