"""The chaos tests: a stack with two instances of every service (REPLICAS=2) under a steady load,
while instances are killed and Postgres and Redis go away (`make chaos`).

They are collected only when asked for by path (`pytest tests/chaos`, `make chaos`): `make test`
and a bare `pytest` leave them out, and the rest of the suite keeps its one-replica stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.stacks import running, suite_stack_config
from tm_devstack.stack import Stack

CHAOS_DIR = Path(__file__).resolve().parent
# As the main suite's (conftest.py): one client address logs in and calls far more often than a
# user would. Traces at the deployments' default ratio: the soak must not measure span files.
SERVICE_ENV = {"LOGIN_LIMIT_PER_ADDRESS": "100000", "LOG_LEVEL": "INFO"}
EDGE_LIMITS = {
    "LOGIN_EDGE_BURST": 300,
    "LOGIN_EDGE_PER_CLIENT": 300,
    "REGISTER_EDGE_BURST": 300,
    "REGISTER_EDGE_PER_CLIENT": 300,
    "DEFAULT_EDGE_BURST": 5000,
    "DEFAULT_EDGE_PER_CLIENT": 5000,
}


def _asked_for(config: pytest.Config) -> bool:
    """Whether the command line names tests/chaos, or something in it."""
    base = config.invocation_params.dir
    for arg in config.args:
        path = (base / arg.split("::")[0]).resolve()
        if path == CHAOS_DIR or CHAOS_DIR in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.resolve() != CHAOS_DIR and CHAOS_DIR not in collection_path.resolve().parents:
        return None
    return None if _asked_for(config) else True


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = suite_stack_config(
        tmp_path_factory.mktemp("chaos-stack"),
        service_env=SERVICE_ENV,
        edge_limits=EDGE_LIMITS,
        trace_sample_ratio=0.01,
        replicas=2,
    )
    with running(config) as stack:
        yield stack


@pytest.fixture(scope="session")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        yield client
