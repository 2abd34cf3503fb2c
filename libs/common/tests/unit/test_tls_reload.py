"""Certificate renewal without a restart (tm_common.identity, tm_common.clients), over a real
in-process mTLS server of the common bootstrap and real files laid out as the kubelet mounts a
Secret (each file a symlink through `..data`, swapped atomically): a new connection to the server
gets its renewed certificate, a process's service channels present their renewed one, calls in
flight finish, and files read half-written leave the previous ones in use."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from prometheus_client import REGISTRY

from support.secret_mount import SecretMount
from tm_common import identity
from tm_common.clients import service_channel
from tm_common.config import ServiceSettings
from tm_common.server import RunningServer, ServiceDefinition, start_server
from tm_common.tokens import TokenVerifier
from tm_devstack import certs

PEER = "test.tls.v1.Peer"
CALLER_SERIAL = f"/{PEER}/CallerSerial"  # the serial of the certificate the caller presented
SLOW = f"/{PEER}/Slow"  # answers after a second
RELOAD_SECONDS = 0.1


async def caller_serial(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    (pem,) = context.auth_context()["x509_pem_cert"]
    return f"{x509.load_pem_x509_certificate(pem).serial_number:x}".encode()


async def slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.sleep(1)
    return request


def register(server: grpc.aio.Server) -> None:
    handlers = {
        "CallerSerial": grpc.unary_unary_rpc_method_handler(caller_serial),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(PEER, handlers)])


@dataclass
class Issuer:
    """One CA (tm_devstack.certs) that issues a new certificate, key and serial on each renewal."""

    directory: Path

    def issue(self, name: str) -> certs.Identity:
        (self.directory / f"{name}.crt").unlink(missing_ok=True)  # ensure() issues what is missing
        return certs.ensure(self.directory, [name])[name]


def serial_of(issued: certs.Identity) -> int:
    return x509.load_pem_x509_certificate(issued.cert.read_bytes()).serial_number


def server_certificate_serial(port: int, client: certs.Identity) -> int:
    """The serial of the certificate the server presents on a new TLS connection."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cafile=str(client.ca))
    context.load_cert_chain(str(client.cert), str(client.key))
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def reloads(result: str) -> float:
    return REGISTRY.get_sample_value("tm_tls_reloads_total", {"result": result}) or 0.0


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    return Issuer(tmp_path / "issuer")


@pytest.fixture
async def server(tmp_path: Path, issuer: Issuer) -> AsyncIterator[tuple[RunningServer, SecretMount]]:
    mount = SecretMount(tmp_path / "auth-tls")
    mount.publish_identity(issuer.issue("auth"))
    settings = ServiceSettings(
        service_name="auth", metrics_port=0, tls_reload_seconds=RELOAD_SECONDS, **mount.environment()
    )

    async def no_keys() -> list[dict[str, str]]:
        return []

    definition = ServiceDefinition(
        name="auth",
        register=register,
        service_names=[PEER],
        verifier=TokenVerifier(no_keys, issuer="test", audience="test"),
        public_methods=[CALLER_SERIAL, SLOW],
    )
    running = await start_server(definition, settings, "127.0.0.1:0")
    yield running, mount
    await running.stop(0)


async def test_a_new_connection_gets_the_renewed_server_certificate_without_a_restart(
    server: tuple[RunningServer, SecretMount], issuer: Issuer
) -> None:
    running, mount = server
    client = issuer.issue(certs.TEST_CLIENT)
    first = serial_of(certs.ensure(issuer.directory, ["auth"])["auth"])
    assert await asyncio.to_thread(server_certificate_serial, running.port, client) == first
    credentials = identity.channel_credentials(identity.TlsFiles(client.ca, client.cert, client.key))
    async with grpc.aio.secure_channel(f"localhost:{running.port}", credentials) as established:
        assert await established.unary_unary(CALLER_SERIAL)(b"", timeout=5)

        renewed = issuer.issue("auth")
        assert serial_of(renewed) != first
        mount.publish_identity(renewed)

        assert await asyncio.to_thread(server_certificate_serial, running.port, client) == serial_of(renewed)
        # The connection made before keeps working.
        assert await established.unary_unary(CALLER_SERIAL)(b"", timeout=5)
    assert (
        REGISTRY.get_sample_value("tm_tls_certificate_expiry_timestamp_seconds")
        <= x509.load_pem_x509_certificate(renewed.cert.read_bytes()).not_valid_after_utc.timestamp()
    )


async def test_files_read_half_written_keep_the_previous_certificate(
    server: tuple[RunningServer, SecretMount], issuer: Issuer
) -> None:
    running, mount = server
    client = issuer.issue(certs.TEST_CLIENT)
    first = serial_of(certs.ensure(issuer.directory, ["auth"])["auth"])
    renewed = issuer.issue("auth")
    rejected = reloads("rejected")

    # Written in place, not swapped: the certificate cut short, then whole but beside the old key.
    version = mount.current_version()
    pem = renewed.cert.read_bytes()
    (version / "tls.crt").write_bytes(pem[: len(pem) // 2])
    assert await asyncio.to_thread(server_certificate_serial, running.port, client) == first
    (version / "tls.crt").write_bytes(pem)
    assert await asyncio.to_thread(server_certificate_serial, running.port, client) == first
    assert reloads("rejected") == rejected + 2

    (version / "tls.key").write_bytes(renewed.key.read_bytes())
    assert await asyncio.to_thread(server_certificate_serial, running.port, client) == serial_of(renewed)


async def test_service_channels_present_the_renewed_certificate(
    server: tuple[RunningServer, SecretMount], issuer: Issuer, tmp_path: Path
) -> None:
    """The server's own reload loop (TLS_RELOAD_SECONDS) renews the process's client credentials:
    the same channel and stub then connect anew with the new certificate, and a call in flight on
    the previous connection finishes."""
    running, _ = server
    mount = SecretMount(tmp_path / "tasks-tls")
    mount.publish_identity(issuer.issue("tasks"))
    first = serial_of(certs.ensure(issuer.directory, ["tasks"])["tasks"])
    identity.use_client_tls(mount.files)
    try:
        channel = service_channel(f"127.0.0.1:{running.port}")
        who_am_i, slowly = channel.unary_unary(CALLER_SERIAL), channel.unary_unary(SLOW)
        assert int(await who_am_i(b"", timeout=5), 16) == first

        in_flight = asyncio.ensure_future(slowly(b"still here", timeout=10))
        await asyncio.sleep(0.2)
        renewed = issuer.issue("tasks")
        mount.publish_identity(renewed)
        for _ in range(50):  # within 5 s
            if int(await who_am_i(b"", timeout=5), 16) == serial_of(renewed):
                break
            await asyncio.sleep(RELOAD_SECONDS)
        else:
            pytest.fail("the channel still presents the previous certificate")
        assert await in_flight == b"still here"
        await channel.close()
    finally:
        identity.use_client_tls(None)


async def test_a_new_ca_is_trusted_from_the_next_connection(
    server: tuple[RunningServer, SecretMount], issuer: Issuer, tmp_path: Path
) -> None:
    """A CA replaced (server and client alike): the channel, which trusted the old CA, connects anew
    trusting the new one and presenting a certificate the server verifies with the new one."""
    running, server_mount = server
    mount = SecretMount(tmp_path / "tasks-tls")
    mount.publish_identity(issuer.issue("tasks"))
    identity.use_client_tls(mount.files)
    try:
        channel = service_channel(f"localhost:{running.port}")
        who_am_i = channel.unary_unary(CALLER_SERIAL)
        assert await who_am_i(b"", timeout=5)

        new_issuer = Issuer(tmp_path / "new-issuer")
        new_server, new_client = new_issuer.issue("auth"), new_issuer.issue("tasks")
        server_mount.publish_identity(new_server)
        mount.publish_identity(new_client)
        identity.refresh_all()  # what the reload loop does every TLS_RELOAD_SECONDS
        assert int(await who_am_i(b"", timeout=5), 16) == serial_of(new_client)
        await channel.close()
    finally:
        identity.use_client_tls(None)
