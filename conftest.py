"""Fixtures shared by every test suite: one real stack (Postgres, Redis, services, Envoy) per run,
started lazily by the first test that needs it, on free ports in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.stacks import running, suite_stack_config
from tm_devstack.stack import Stack

# The e2e suite logs in far more often than one client would; per-address limits are tested
# against a server of their own (services/auth/tests/integration).
# Key rotation on a short clock (tests/e2e/test_key_rotation.py): auth reads its keys every second
# and signs with a new one 8 s after its file appeared; Envoy and the services fetch the JWKS every
# 2 s (8 > 1 + 2 with a margin, as the defaults keep 300 > 10 + 60).
KEY_ROTATION_ENV = {
    "JWT_KEYS_RELOAD_SECONDS": "1",
    "JWT_KEY_ACTIVATION_SECONDS": "8",
    "JWKS_REFRESH_SECONDS": "2",
}
# Due-soon reminders (tests/e2e/test_due_soon.py): the tasks scheduler scans twice a second, not
# every minute; the window keeps its default (a day), so "due today or tomorrow" is owed one.
REMINDER_ENV = {"DUE_SOON_SCAN_SECONDS": "0.5"}
TEST_SERVICE_ENV = {
    "LOGIN_LIMIT_PER_ADDRESS": "100000",
    "LOG_LEVEL": "INFO",
    **KEY_ROTATION_ENV,
    **REMINDER_ENV,
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = suite_stack_config(
        tmp_path_factory.mktemp("stack"),
        service_env=TEST_SERVICE_ENV,
        jwks_cache_seconds=2,  # Envoy's, see KEY_ROTATION_ENV
        # The suite calls from one address (127.0.0.1), far more often than one client would; the
        # per-client buckets are tested on a gateway of their own (tests/e2e/test_edge_limits.py).
        edge_limits={
            "LOGIN_EDGE_BURST": 300,
            "LOGIN_EDGE_PER_CLIENT": 300,
            "REGISTER_EDGE_BURST": 300,
            "REGISTER_EDGE_PER_CLIENT": 300,
            "HEALTH_EDGE_BURST": 100,
            "HEALTH_EDGE_PER_CLIENT": 100,
            "VERSION_EDGE_BURST": 100,
            "VERSION_EDGE_PER_CLIENT": 10,  # low enough for tests/e2e/test_ops.py to trip it
            "DEFAULT_EDGE_BURST": 5000,
            "DEFAULT_EDGE_PER_CLIENT": 5000,
        },
    )
    with running(config) as stack:
        yield stack


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A Postgres without the rest of the stack (the adapters' tests): DATABASE_URL's server, or
    an embedded one of this session's own."""
    from support.database import postgres_server

    with postgres_server() as admin_url:
        yield admin_url


@pytest.fixture(scope="session")
def scratch_database(postgres_admin_url: str) -> Any:
    """One database on that server with every service's schema and role (migrated on demand)."""
    from support.database import ScratchDatabase

    return ScratchDatabase(postgres_admin_url)


@pytest.fixture(scope="session")
def jwt_keys_dir(stack: Stack) -> Path:
    return stack.data / "secrets" / "jwt"
