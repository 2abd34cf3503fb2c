"""The services of the system, as the local stack runs them. Add a service here when it lands."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    default_port: int
    module: str  # python -m <module> starts the server
    migrate_module: str
    schema: str


SERVICES: list[ServiceSpec] = [
    ServiceSpec("auth", 50051, "tm_auth.entrypoints.main", "tm_auth.entrypoints.migrate", "auth"),
    ServiceSpec("tasks", 50052, "tm_tasks.entrypoints.main", "tm_tasks.entrypoints.migrate", "tasks"),
    ServiceSpec("files", 50053, "tm_files.entrypoints.main", "tm_files.entrypoints.migrate", "files"),
    ServiceSpec(
        "activity", 50054, "tm_activity.entrypoints.main", "tm_activity.entrypoints.migrate", "activity"
    ),
    ServiceSpec("notify", 50055, "tm_notify.entrypoints.main", "tm_notify.entrypoints.migrate", "notify"),
]

# The services that make page tokens: each reads PAGE_TOKEN_SECRET (the same for all its instances).
PAGE_TOKEN_ISSUERS = frozenset({"tasks", "files", "activity"})


@dataclass(frozen=True)
class Instance:
    """One process of a service in the local stack (REPLICAS of them per service)."""

    service: ServiceSpec
    number: int  # 1, 2, ...
    grpc_port: int
    metrics_port: int

    @property
    def program(self) -> str:
        """Its supervisord program: the service's name for the first, so that one replica (and
        everything that stops or starts "auth") is named as before; `<name>-<n>` for the others."""
        return self.service.name if self.number == 1 else f"{self.service.name}-{self.number}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"
