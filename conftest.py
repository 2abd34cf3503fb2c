"""Fixtures shared by every test suite: one real stack (Postgres, Redis, services, Envoy) per run,
started lazily by the first test that needs it, on free ports in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tm_devstack.stack import Stack, StackConfig

# The e2e suite logs in far more often than one client would; per-address limits are tested
# against a server of their own (services/auth/tests/integration).
TEST_SERVICE_ENV = {"LOGIN_LIMIT_PER_ADDRESS": "100000", "LOG_LEVEL": "INFO"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("stack"),
        gateway_port=None,
        prefer_default_ports=False,
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        environment="test",
        version=(Path(__file__).parent / "VERSION").read_text().strip(),
        service_env=TEST_SERVICE_ENV,
        edge_limits={
            "LOGIN_EDGE_BURST": 300,
            "REGISTER_EDGE_BURST": 300,
            "OPS_EDGE_BURST": 20,  # low enough for tests/e2e/test_ops.py to trip it
            "DEFAULT_EDGE_BURST": 5000,
        },
    )
    running = Stack(config)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def jwt_keys_dir(stack: Stack) -> Path:
    return stack.data / "secrets" / "jwt"
