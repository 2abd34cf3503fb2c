"""End-to-end helpers: every call goes through the Envoy gateway, as JSON or native gRPC."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest

from support.accounts import Account, new_account


@pytest.fixture(scope="session")
def http(stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def gateway_channel(stack) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{stack.gateway_port}") as channel:
        yield channel


@pytest.fixture
def account(http: httpx.Client) -> Account:
    """A fresh registered user with a token."""
    return new_account(http)
