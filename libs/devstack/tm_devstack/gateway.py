"""Renders the Envoy gateway's config (gateway/envoy.yaml.in) and Lua filter.

Standard library only, so the gateway's container build runs it too:
    python -m tm_devstack.gateway OUT_DIR     (settings from the environment, see `from_env`)
"""

from __future__ import annotations

import os
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
GATEWAY_DIR = ROOT / "gateway"
# The JSON body of each transcoded route, generated from the protos by tools/gen_json_shapes.py.
JSON_SHAPES = ROOT / "build" / "gateway" / "json_shapes.lua"
# The public services Envoy transcodes. Internal ones (user directory, diagnostics, task access)
# are left out on purpose: they get no route.
TRANSCODED_SERVICES = [
    "taskmanager.auth.v1.AuthService",
    "taskmanager.ops.v1.OpsService",
    "taskmanager.tasks.v1.TasksService",
    "taskmanager.tasks.v1.SharingService",
    "taskmanager.tasks.v1.CommentsService",
    "taskmanager.files.v1.FilesService",
    "taskmanager.activity.v1.ActivityService",
    "taskmanager.notify.v1.NotifyService",
]
# Where each upstream is in containers (compose service names).
UPSTREAM_DEFAULTS = {
    "auth": "auth:50051",
    "tasks": "tasks:50052",
    "files": "files:50053",
    "activity": "activity:50054",
    "notify": "notify:50055",
}
# The edge's token buckets, in requests per second (each also the burst). Every route has two:
# <ROUTE>_EDGE_BURST for all clients together (per gateway instance: it protects the services) and
# <ROUTE>_EDGE_PER_CLIENT for each client address (so that one client cannot spend everybody's
# budget). DEFAULT_* is every route without its own. EDGE_TRACKED_CLIENTS: how many addresses each
# route keeps a bucket for (the least recently seen is dropped first).
DEFAULT_EDGE_LIMITS = {
    "LOGIN_EDGE_BURST": 50,
    "LOGIN_EDGE_PER_CLIENT": 10,
    "REGISTER_EDGE_BURST": 50,
    "REGISTER_EDGE_PER_CLIENT": 5,
    "HEALTH_EDGE_BURST": 100,  # health asks every service
    "HEALTH_EDGE_PER_CLIENT": 5,
    "VERSION_EDGE_BURST": 100,
    "VERSION_EDGE_PER_CLIENT": 20,
    "DEFAULT_EDGE_BURST": 2000,
    "DEFAULT_EDGE_PER_CLIENT": 200,
    "EDGE_TRACKED_CLIENTS": 20_000,
}


def edge_limits_from_env(env: Mapping[str, str]) -> dict[str, int]:
    """DEFAULT_EDGE_LIMITS, each overridden by the variable of its name (unset or empty: the default)."""
    return {name: int(env.get(name) or default) for name, default in DEFAULT_EDGE_LIMITS.items()}


@dataclass(frozen=True)
class EdgeGuards:
    """Envoy's protections against slow, idle, oversized and overwhelming clients (seconds, unless
    the name says otherwise). Each is settable from the environment as EDGE_<NAME in capitals>."""

    request_headers_timeout: float = 10  # a client must send its headers this fast (slowloris)
    request_timeout: float = 300  # ... and its whole request
    stream_idle_timeout: float = 300  # a request with no bytes either way for this long ends
    idle_timeout: float = 60  # a connection without requests (or one that never sent a byte)
    max_connection_duration: float = 3600  # then drained, so no connection lives forever
    max_connections: int = 10_000  # open downstream connections, all listeners together
    max_heap_bytes: int = 1 << 30  # past 95% Envoy shrinks its heap, past 98% refuses requests
    max_request_headers_kb: int = 32  # 431 past this (URIs over 8 KiB are 414 in the Lua filter)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EdgeGuards:
        values: dict[str, Any] = {}
        for guard in fields(cls):
            raw = env.get(f"EDGE_{guard.name.upper()}")
            if raw:  # unset or empty: the default
                values[guard.name] = int(raw) if guard.type == "int" else float(raw)
        return cls(**values)

    def template_values(self) -> dict[str, object]:
        return {
            f"EDGE_{guard.name.upper()}": (
                getattr(self, guard.name) if guard.type == "int" else f"{getattr(self, guard.name):g}s"
            )
            for guard in fields(self)
        }


@dataclass
class GatewaySettings:
    upstreams: dict[str, tuple[str, int]]  # service name -> (host, port)
    descriptor_set: Path
    lua_file: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    admin_port: int = 9901
    admin_socket: Path | None = None  # a Unix socket (mode 0600) instead of the port
    jwt_issuer: str = "taskmanager-auth"
    jwt_audience: str = "taskmanager"
    # Proxies in front of Envoy that append to X-Forwarded-For (1 behind a load balancer that does,
    # such as an AWS ALB). 0 trusts none: the client address is the TCP peer's, which cannot be forged.
    xff_trusted_hops: int = 0
    # How long Envoy keeps the auth service's JWKS before fetching it again (in the background):
    # auth's JWT_KEY_ACTIVATION_SECONDS must be longer.
    jwks_cache_seconds: int = 60
    edge_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_EDGE_LIMITS))
    edge_guards: EdgeGuards = field(default_factory=EdgeGuards)

    @classmethod
    def from_env(cls, out_dir: Path) -> GatewaySettings:
        """GATEWAY_HOST/PORT, ADMIN_PORT, <SERVICE>_ADDRESS (host:port), DESCRIPTOR_SET, the edge limits."""
        env = os.environ
        upstreams = {}
        for name, default in UPSTREAM_DEFAULTS.items():
            host, _, port = env.get(f"{name.upper()}_ADDRESS", default).rpartition(":")
            upstreams[name] = (host, int(port))
        return cls(
            upstreams=upstreams,
            descriptor_set=Path(env.get("DESCRIPTOR_SET", "/etc/envoy/taskmanager.pb")),
            lua_file=out_dir / "gateway.lua",
            listen_host=env.get("GATEWAY_HOST", "0.0.0.0"),
            listen_port=int(env.get("GATEWAY_PORT", "8080")),
            admin_port=int(env.get("ADMIN_PORT", "9901")),
            jwt_issuer=env.get("JWT_ISSUER", "taskmanager-auth"),
            jwt_audience=env.get("JWT_AUDIENCE", "taskmanager"),
            xff_trusted_hops=int(env.get("XFF_NUM_TRUSTED_HOPS", "0")),
            jwks_cache_seconds=int(env.get("JWKS_CACHE_SECONDS", "60")),
            edge_limits=edge_limits_from_env(env),
            edge_guards=EdgeGuards.from_env(env),
        )


def lua_source() -> str:
    """The Lua filter: the JSON member extractor, the strict JSON type check with the body shapes
    generated from the protos (`make protos`), then the request and response rules that use them."""
    lua = GATEWAY_DIR / "lua"
    if not JSON_SHAPES.is_file():
        raise FileNotFoundError(f"{JSON_SHAPES} is missing: run `make protos`")
    parts = [lua / "json_member.lua", lua / "json_types.lua", JSON_SHAPES, lua / "http_status.lua"]
    return "\n".join(part.read_text() for part in parts)


def envoy_config(settings: GatewaySettings) -> str:
    template = string.Template((GATEWAY_DIR / "envoy.yaml.in").read_text())
    values: dict[str, object] = {
        "ADMIN_ADDRESS": (
            f"{{pipe: {{path: {settings.admin_socket}, mode: 384}}}}"  # 384 = 0o600
            if settings.admin_socket
            else f"{{socket_address: {{address: 127.0.0.1, port_value: {settings.admin_port}}}}}"
        ),
        "GATEWAY_HOST": settings.listen_host,
        "GATEWAY_PORT": settings.listen_port,
        "JWT_ISSUER": settings.jwt_issuer,
        "JWT_AUDIENCE": settings.jwt_audience,
        "XFF_NUM_TRUSTED_HOPS": settings.xff_trusted_hops,
        "JWKS_CACHE_SECONDS": settings.jwks_cache_seconds,
        "LUA_HTTP_STATUS": settings.lua_file,
        "DESCRIPTOR_SET": settings.descriptor_set,
        "TRANSCODED_SERVICES": ", ".join(TRANSCODED_SERVICES),
        **DEFAULT_EDGE_LIMITS,  # a setting left out keeps its default
        **settings.edge_limits,
        **settings.edge_guards.template_values(),
    }
    for name, (host, port) in settings.upstreams.items():
        values[f"{name.upper()}_HOST"] = host
        values[f"{name.upper()}_PORT"] = port
    values["OPS_ENDPOINTS"] = ", ".join(
        f"{{endpoint: {{address: {{socket_address: {{address: {host}, port_value: {port}}}}}}}}}"
        for host, port in settings.upstreams.values()
    )
    return template.substitute(values)


def write(out_dir: Path, settings: GatewaySettings) -> Path:
    """Write gateway.lua and envoy.yaml into out_dir; returns the config's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    settings.lua_file.write_text(lua_source())
    config = out_dir / "envoy.yaml"
    config.write_text(envoy_config(settings))
    return config


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "/etc/envoy")
    print(write(target, GatewaySettings.from_env(target)))
