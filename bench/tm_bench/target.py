"""What the bench loads: a running system named by the environment, or a stack of its own.
Loopback only: every address is checked before anything is sent to it."""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from tm_common.config import ServiceSettings
from tm_devstack.certs import TEST_CLIENT
from tm_devstack.services import SERVICES
from tm_devstack.stack import ROOT, Stack, StackConfig, service_tls_from_env

# Limits far above what the load reaches: the figures measure the system, not its rate limiters.
SERVICE_ENV = {
    "LOGIN_LIMIT_PER_ADDRESS": "100000",
    "LOGIN_LIMIT_PER_USERNAME": "100000",
    "MAX_FILE_BYTES": str(32 * 1024 * 1024),  # room for the 20 MiB upload whose memory is measured
}
DEFAULT_TRACE_SAMPLE_RATIO = ServiceSettings.model_fields["trace_sample_ratio"].default
EDGE_BURST = 1_000_000  # for every edge token bucket (the stack's defaults name them all)


@dataclass(frozen=True)
class Target:
    gateway: str  # URL
    auth_direct: str | None  # host:port of the auth service's gRPC server
    tasks_direct: str | None  # host:port of the tasks service's gRPC server
    tasks_database: str | None  # plain libpq URL of the tasks role (seeding); None: no tasks scenarios
    redis: str | None  # URL of the services' Redis (to count cached stats versions), or None
    # A role that may create a schema, for the event-lag watcher's bookkeeping; None: no lag figures.
    admin_database: str | None = None
    # The activity role's libpq URL, to read when each event reached the audit log; None: skipped.
    activity_database: str | None = None
    files_pid: int | None = None  # the files service's process, to watch its memory
    # The client identity of the direct scenarios (the services speak mTLS only): grpc.js's
    # CLIENT_CA_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE; empty: plaintext.
    direct_tls: dict[str, str] = field(default_factory=dict)
    # How the system measured runs, for the report: its tracing and service identity.
    setup: str = "a running system (BENCH_URL)"


def is_loopback(host: str | None) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def host_port(url_or_address: str, default_port: int = 80) -> str:
    parts = urlsplit(url_or_address if "//" in url_or_address else f"//{url_or_address}")
    if not is_loopback(parts.hostname):
        sys.exit(f"bench: {url_or_address} is not a loopback address; the bench only loads loopback")
    return f"{parts.hostname}:{parts.port or default_port}"


def loopback_database(url: str) -> str:
    host = str(psycopg.conninfo.conninfo_to_dict(url).get("host") or "")
    if not (host.startswith("/") or all(is_loopback(h) for h in host.split(","))):  # "/...": a socket
        sys.exit(f"bench: the database at {host!r} is not on loopback; the bench only loads loopback")
    return url


def describe_setup(config: StackConfig) -> str:
    tracing = f"tracing sampled at {config.trace_sample_ratio:g}" if config.tracing else "tracing off"
    identity = (
        "mTLS between Envoy and the services"
        if config.service_tls
        else "plaintext between Envoy and the services (SERVICE_TLS=false)"
    )
    return f"its own stack, {tracing}, {identity}"


def _direct_tls(env: Mapping[str, str]) -> dict[str, str]:
    """TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE (the identity to present to the services' ports)
    as grpc.js takes them."""
    names = {
        "TLS_CA_FILE": "CLIENT_CA_FILE",
        "TLS_CERT_FILE": "CLIENT_CERT_FILE",
        "TLS_KEY_FILE": "CLIENT_KEY_FILE",
    }
    return {ours: env[theirs] for theirs, ours in names.items() if env.get(theirs)}


def _optional_env(name: str) -> str | None:
    return os.environ.get(name) or None


def _optional_database(name: str) -> str | None:
    url = _optional_env(name)
    return loopback_database(url) if url else None


def own_stack_config(data_dir: Path, env: Mapping[str, str]) -> StackConfig:
    """The bench's own stack (as the test suite's, conftest.py), configured by env."""
    edge_limits = dict.fromkeys(StackConfig(data_dir=data_dir).edge_limits, EDGE_BURST)
    return StackConfig(
        data_dir=data_dir,
        gateway_port=None,
        prefer_default_ports=False,
        database_url=env.get("DATABASE_URL") or None,
        redis_url=env.get("REDIS_URL") or None,
        environment="bench",
        version=(ROOT / "VERSION").read_text().strip(),
        service_env=SERVICE_ENV,
        edge_limits=edge_limits,
        # As deployed (README, Observability): the default sampling, unless told otherwise;
        # OTEL_SDK_DISABLED=true measures the same stack with tracing off.
        trace_sample_ratio=float(env.get("TRACE_SAMPLE_RATIO") or DEFAULT_TRACE_SAMPLE_RATIO),
        tracing=env.get("OTEL_SDK_DISABLED", "").strip().lower() != "true",
        keep_spans=False,  # exported as deployed, to a collector that runs elsewhere there
        # As deployed: mTLS between Envoy and the services; SERVICE_TLS=false measures plaintext.
        service_tls=service_tls_from_env(env),
    )


def own_target(stack: Stack) -> Target:
    """What the bench loads of a started stack of its own."""
    tasks_spec = next(s for s in SERVICES if s.name == "tasks")
    activity_spec = next(s for s in SERVICES if s.name == "activity")
    return Target(
        gateway=stack.gateway_url,
        auth_direct=stack.service_address("auth"),
        tasks_direct=stack.service_address("tasks"),
        tasks_database=loopback_database(stack.service_database_url(tasks_spec, driver="postgresql")),
        redis=stack.redis_url,
        admin_database=stack.admin_url,
        activity_database=stack.service_database_url(activity_spec, driver="postgresql"),
        files_pid=int(stack.ctl("pid", "files").strip()),
        direct_tls=_direct_tls(stack.tls[TEST_CLIENT].environment()) if stack.config.service_tls else {},
        setup=describe_setup(stack.config),
    )


@contextmanager
def target() -> Iterator[Target]:
    if url := os.environ.get("GATEWAY_URL"):
        host_port(url)
        auth, tasks = _optional_env("AUTH_GRPC_ADDRESS"), _optional_env("TASKS_GRPC_ADDRESS")
        database, redis = _optional_env("TASKS_DATABASE_URL"), _optional_env("REDIS_URL")
        if redis:
            host_port(redis, 6379)
        yield Target(
            gateway=url.rstrip("/"),
            auth_direct=host_port(auth) if auth else None,
            tasks_direct=host_port(tasks) if tasks else None,
            tasks_database=loopback_database(database) if database else None,
            redis=redis,
            admin_database=_optional_database("ADMIN_DATABASE_URL"),
            activity_database=_optional_database("ACTIVITY_DATABASE_URL"),
            files_pid=int(pid) if (pid := _optional_env("FILES_PID")) else None,
            direct_tls=_direct_tls(os.environ),
        )
        return
    data_dir = Path(tempfile.mkdtemp(prefix="tm-bench-"))
    stack = Stack(own_stack_config(data_dir, os.environ))
    print(f"bench: starting a stack in {data_dir} ...", file=sys.stderr, flush=True)
    ok = False
    try:
        stack.start()
        yield own_target(stack)
        ok = True
    finally:
        stack.stop()
        if ok:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"bench: the stack's data and logs are kept in {data_dir}", file=sys.stderr)
