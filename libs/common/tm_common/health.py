"""Health of a service and of the whole system.

Every service hosts three things here:
* the standard grpc.health.v1 service, kept current by a background check of its dependencies
  (Envoy's active health checks and orchestrators use it);
* DiagnosticsService.CheckDependencies, its own dependencies in detail (internal);
* OpsService (GET /health, GET /version), which asks every service's diagnostics and reports the
  whole system, so any live service can answer and name the ones that are down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer  # grpc_health.v1.health.aio

from taskmanager.ops.v1 import ops_pb2, ops_pb2_grpc
from tm_common.clients import plain_channel
from tm_common.http import set_http_status

log = logging.getLogger(__name__)

DependencyCheck = Callable[[], Awaitable[None]]
HEALTHY = "healthy"
PEER_TIMEOUT_SECONDS = 2.0


async def run_checks(checks: Mapping[str, DependencyCheck], seconds_each: float = 1.5) -> dict[str, str]:
    """{dependency: "healthy" | "unhealthy: <reason>"} for every check, run concurrently."""

    async def one(check: DependencyCheck) -> str:
        try:
            await asyncio.wait_for(check(), seconds_each)
            return HEALTHY
        except Exception as exc:  # any failure of a dependency is reported, never raised
            # Only the kind of failure: /health is public, the detail goes to the log.
            log.warning("dependency check failed", extra={"error": f"{type(exc).__name__}: {exc}"[:500]})
            return f"unhealthy: {type(exc).__name__}"

    results = await asyncio.gather(*(one(c) for c in checks.values()))
    return dict(zip(checks, results, strict=True))


class DiagnosticsServicer(ops_pb2_grpc.DiagnosticsServiceServicer):
    def __init__(self, service: str, checks: Mapping[str, DependencyCheck]) -> None:
        self.service = service
        self.checks = checks

    async def CheckDependencies(
        self, request: ops_pb2.CheckDependenciesRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.CheckDependenciesResponse:
        return ops_pb2.CheckDependenciesResponse(
            service=self.service, dependencies=await run_checks(self.checks)
        )


class OpsServicer(ops_pb2_grpc.OpsServiceServicer):
    def __init__(
        self,
        diagnostics: DiagnosticsServicer,
        peers: Mapping[str, str],
        version: str,
        environment: str,
    ) -> None:
        self._diagnostics = diagnostics
        self._version = version
        self._environment = environment
        self._peers = {
            name: ops_pb2_grpc.DiagnosticsServiceStub(plain_channel(address))
            for name, address in peers.items()
            if name != diagnostics.service
        }

    async def GetVersion(
        self, request: ops_pb2.GetVersionRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.GetVersionResponse:
        return ops_pb2.GetVersionResponse(version=self._version, environment=self._environment)

    async def GetHealth(
        self, request: ops_pb2.GetHealthRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.GetHealthResponse:
        names = [self._diagnostics.service, *self._peers]
        reports = await asyncio.gather(
            run_checks(self._diagnostics.checks), *(self._ask(stub) for stub in self._peers.values())
        )
        response = summarize(dict(zip(names, reports, strict=True)))
        if response.status != "ok":
            set_http_status(503)
        return response

    async def _ask(self, stub: ops_pb2_grpc.DiagnosticsServiceAsyncStub) -> dict[str, str] | None:
        try:
            reply = await stub.CheckDependencies(
                ops_pb2.CheckDependenciesRequest(), timeout=PEER_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("health: peer unreachable", extra={"code": exc.code().name})
            return None
        return dict(reply.dependencies)


def summarize(reports: Mapping[str, dict[str, str] | None]) -> ops_pb2.GetHealthResponse:
    """Fold each service's dependency report (None: unreachable) into the system's health."""
    response = ops_pb2.GetHealthResponse()
    for name, dependencies in sorted(reports.items()):
        entry = response.services[name]
        if dependencies is None:
            entry.status = "down"
            response.down.append(name)
            continue
        entry.dependencies.update(dependencies)
        bad = sorted(dep for dep, state in dependencies.items() if state != HEALTHY)
        entry.status = "down" if bad else "ok"
        response.down.extend(f"{name}.{dep}" for dep in bad)
    response.database = _overall(reports, "database")
    response.redis = _overall(reports, "redis")
    response.status = "degraded" if response.down else "ok"
    return response


def _overall(reports: Mapping[str, dict[str, str] | None], dependency: str) -> str:
    states = [deps.get(dependency) for deps in reports.values() if deps is not None]
    states = [s for s in states if s is not None]
    if not states:
        return "unknown"
    return HEALTHY if all(s == HEALTHY for s in states) else "unhealthy"


async def keep_health_current(
    servicer: HealthServicer,
    service_names: list[str],
    checks: Mapping[str, DependencyCheck],
    interval: float = 5.0,
) -> None:
    """Flip the standard health status to NOT_SERVING while any dependency fails."""
    last = None
    while True:
        states = await run_checks(checks)
        serving = all(state == HEALTHY for state in states.values())
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        if status != last:
            if not serving:
                log.warning("dependency unhealthy", extra={"dependencies": states})
            for name in ["", *service_names]:
                await servicer.set(name, status)
            last = status
        await asyncio.sleep(interval)
