"""Service identities for tests that reach the stack's services directly (they speak mTLS only,
tm_common.identity) or run a service in this process against the stack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from tm_common import identity
from tm_devstack.certs import TEST_CLIENT


def aio_channel(stack: Any, address: str, as_identity: str = TEST_CLIENT, **kwargs: Any) -> grpc.aio.Channel:
    """An asyncio channel to a TLS server of the stack's CA (a stack service, or one in this
    process started with tls_settings), presenting `as_identity`'s certificate."""
    return grpc.aio.secure_channel(address, stack.channel_credentials(as_identity), **kwargs)


def tls_settings(stack: Any, name: str) -> dict[str, str]:
    """Settings overrides (tls_ca_file ...) for a server in this process that serves as `name`."""
    return {key.lower(): value for key, value in stack.tls[name].environment().items()}


@contextmanager
def calling_as(stack: Any, name: str) -> Iterator[None]:
    """While open, the service channels this process makes (tm_common.clients) present `name`'s
    certificate: for a service run in this process that calls the stack's services."""
    files = stack.tls[name]
    identity.use_client_tls(identity.TlsFiles(files.ca, files.cert, files.key))
    try:
        yield
    finally:
        identity.use_client_tls(None)
