"""grpc.aio server bootstrap shared by every service.

A service describes itself with a ServiceDefinition; this module adds the common interceptor,
standard health checking, server reflection, the ops/diagnostics services, and a graceful stop on
SIGTERM/SIGINT (health flips to NOT_SERVING, in-flight RPCs get `shutdown_grace_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer  # grpc_health.v1.health.aio
from grpc_reflection.v1alpha import reflection

from taskmanager.ops.v1 import ops_pb2, ops_pb2_grpc
from tm_common import identity
from tm_common.clients import KEEPALIVE_TIME_MS, METADATA_OPTIONS
from tm_common.config import ServiceSettings
from tm_common.health import DependencyCheck, DiagnosticsServicer, OpsServicer, keep_health_current
from tm_common.interceptors import ServiceInterceptor
from tm_common.logs import configure_logging
from tm_common.metrics import serve_metrics
from tm_common.tokens import TokenVerifier
from tm_common.tracing import configure_tracing, server_interceptors

log = logging.getLogger(__name__)
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
LIVENESS = "liveness"  # the health service name liveness probes ask for

OPS_SERVICE = ops_pb2.DESCRIPTOR.services_by_name["OpsService"].full_name
DIAGNOSTICS_SERVICE = ops_pb2.DESCRIPTOR.services_by_name["DiagnosticsService"].full_name
# Methods anyone may call without a token, whatever the service.
ALWAYS_PUBLIC = frozenset(
    {
        f"/{OPS_SERVICE}/GetHealth",
        f"/{OPS_SERVICE}/GetVersion",
        f"/{DIAGNOSTICS_SERVICE}/CheckDependencies",
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    }
)


# Clients ping every KEEPALIVE_TIME_MS, calls or not (tm_common.clients.KEEPALIVE_OPTIONS); a server
# refuses pings more frequent than it allows (two strikes, then GOAWAY "too_many_pings", the
# connection dropped): allow half that interval, and pings on a connection without calls.
KEEPALIVE_ENFORCEMENT_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_TIME_MS // 2),
]
# A gRPC client re-resolves its target's DNS name only when a connection goes away: a connection
# closed (GOAWAY, then the calls in flight get the grace to finish) after MAX_CONNECTION_AGE_MS lets
# every service channel find pods started since, so a scaled-up service gets its share (Envoy
# re-resolves on its own, every 2 s).
MAX_CONNECTION_AGE_MS = 5 * 60_000
MAX_CONNECTION_AGE_GRACE_MS = 120_000  # the longest route (files, 120 s at the gateway)
CONNECTION_OPTIONS = [
    *KEEPALIVE_ENFORCEMENT_OPTIONS,
    ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
    ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_MS),
]


@dataclass
class ServiceDefinition:
    """What one service contributes to the common server."""

    name: str
    register: Callable[[grpc.aio.Server], None]
    service_names: Sequence[str]
    verifier: TokenVerifier
    public_methods: Iterable[str] = ()
    checks: Mapping[str, DependencyCheck] = field(default_factory=dict)
    on_close: Sequence[Callable[[], Awaitable[None]]] = ()
    # Long-running loops started with the server and cancelled when it stops (outbox relay,
    # event consumers); each must survive outages of its own dependencies.
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: HealthServicer
    background: list[asyncio.Task[None]]
    probes: grpc.aio.Server | None = None  # the plaintext health port (HEALTH_PORT), if any

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        for task in self.background:
            task.cancel()
        await self.server.stop(grace)
        if self.probes is not None:
            await self.probes.stop(0)


async def start_server(
    definition: ServiceDefinition, settings: ServiceSettings, address: str | None = None
) -> RunningServer:
    """Build, bind and start the server; returns it with the port actually bound. With TLS_* set
    it speaks mTLS only and checks callers' identities (tm_common.identity)."""
    tls = identity.TlsFiles.from_settings(settings)
    public = ALWAYS_PUBLIC | set(definition.public_methods)
    server = grpc.aio.server(
        interceptors=[
            *server_interceptors(),
            ServiceInterceptor(definition.verifier, public, check_identity=tls is not None),
        ],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
            *METADATA_OPTIONS,
            *CONNECTION_OPTIONS,
        ],
    )
    definition.register(server)
    diagnostics = DiagnosticsServicer(definition.name, definition.checks)
    ops_pb2_grpc.add_DiagnosticsServiceServicer_to_server(diagnostics, server)
    ops_pb2_grpc.add_OpsServiceServicer_to_server(
        OpsServicer(diagnostics, settings.peers(), settings.app_version, settings.environment),
        server,
    )
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    # For liveness probes: SERVING while the process runs its loop, whatever its dependencies
    # (a database outage must make a pod unready, not restart it); NOT_SERVING once stopping.
    await health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    names = [*definition.service_names, OPS_SERVICE, DIAGNOSTICS_SERVICE]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME, "grpc.health.v1.Health"], server)
    bind = address or settings.grpc_address
    if tls is None:
        port = server.add_insecure_port(bind)
    else:
        port = server.add_secure_port(bind, identity.server_credentials(tls))
    if port == 0:
        raise RuntimeError(f"cannot bind {address or settings.grpc_address}")
    await server.start()
    probes = await _start_probes(health_servicer, settings) if tls is not None else None
    watcher = asyncio.create_task(keep_health_current(health_servicer, names, definition.checks))
    loops = [asyncio.create_task(loop()) for loop in definition.background]
    if tls is not None:  # renewed certificate files, for the clients' channels too (tm_common.identity)
        loops.append(asyncio.create_task(identity.keep_current(settings.tls_reload_seconds)))
    return RunningServer(server, port, health_servicer, [watcher, *loops], probes)


async def _start_probes(health: HealthServicer, settings: ServiceSettings) -> grpc.aio.Server | None:
    """The same health answers, plaintext, on HEALTH_PORT: the kubelet's gRPC probes cannot
    present a certificate. It serves nothing else."""
    if not settings.health_port:
        return None
    probes = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health, probes)
    if probes.add_insecure_port(f"{settings.grpc_host}:{settings.health_port}") == 0:
        raise RuntimeError(f"cannot bind the health port {settings.grpc_host}:{settings.health_port}")
    await probes.start()
    return probes


async def serve(definition: ServiceDefinition, settings: ServiceSettings) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully and release resources.

    The process's /metrics endpoint starts here, not in start_server: it serves the process-wide
    registry, so it belongs to the process (tests start several servers in one)."""
    if not settings.tls_enabled:
        identity.warn_unprotected(settings.service_name)
    endpoint = serve_metrics(settings.grpc_host, settings.metrics_port)
    try:
        await _serve_until_signalled(definition, settings, await start_server(definition, settings))
    finally:
        if endpoint is not None:
            endpoint.stop()


async def _serve_until_signalled(
    definition: ServiceDefinition, settings: ServiceSettings, running: RunningServer
) -> None:
    log.info(
        "serving",
        extra={"address": settings.grpc_address, "port": running.port, "metrics_port": settings.metrics_port},
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
    await running.stop(settings.shutdown_grace_seconds)
    for close in definition.on_close:
        with contextlib.suppress(Exception):
            await close()
    log.info("stopped")


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a service's async main on uvloop."""
    import uvloop

    uvloop.run(main())


def service_main(settings: SettingsT, build: Callable[[SettingsT], ServiceDefinition]) -> None:
    """The body of every service's `main`: JSON logs and tracing, then serve until SIGTERM."""
    configure_logging(settings.service_name, settings.log_level)
    tracing = configure_tracing(settings)
    # Before build(): the channels it makes to other services present this service's certificate.
    identity.use_client_tls(identity.TlsFiles.from_settings(settings))

    async def main() -> None:
        # Built inside the running loop: gRPC aio channels and pools bind to the loop they see.
        await serve(build(settings), settings)

    try:
        run(main)
    finally:
        if tracing is not None:
            tracing.shutdown()  # export the spans still buffered
