"""Renders the Envoy gateway's config (gateway/envoy.yaml.in) and Lua filter.

Standard library only, so the gateway's container build runs it too:
    python -m tm_devstack.gateway OUT_DIR     (settings from the environment, see `from_env`)
"""

from __future__ import annotations

import os
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
GATEWAY_DIR = ROOT / "gateway"
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
DEFAULT_EDGE_LIMITS = {
    "LOGIN_EDGE_BURST": 50,
    "REGISTER_EDGE_BURST": 50,
    "OPS_EDGE_BURST": 100,
    "DEFAULT_EDGE_BURST": 2000,
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
    edge_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_EDGE_LIMITS))

    @classmethod
    def from_env(cls, out_dir: Path) -> GatewaySettings:
        """GATEWAY_HOST/PORT, ADMIN_PORT, <SERVICE>_ADDRESS (host:port), DESCRIPTOR_SET, *_EDGE_BURST."""
        env = os.environ
        upstreams = {}
        for name, default in UPSTREAM_DEFAULTS.items():
            host, _, port = env.get(f"{name.upper()}_ADDRESS", default).rpartition(":")
            upstreams[name] = (host, int(port))
        limits = {k: int(env.get(k, v)) for k, v in DEFAULT_EDGE_LIMITS.items()}
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
            edge_limits=limits,
        )


def lua_source() -> str:
    """The Lua filter: the JSON member extractor, then the response rules that use it."""
    lua = GATEWAY_DIR / "lua"
    return (lua / "json_member.lua").read_text() + "\n" + (lua / "http_status.lua").read_text()


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
        "LUA_HTTP_STATUS": settings.lua_file,
        "DESCRIPTOR_SET": settings.descriptor_set,
        "TRANSCODED_SERVICES": ", ".join(TRANSCODED_SERVICES),
        **settings.edge_limits,
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
