"""Settings every service reads from its environment, with defaults that suit the local stack."""

from __future__ import annotations

import socket

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# gRPC targets that list several addresses, comma-separated.
_MULTI_ADDRESS_SCHEMES = ("ipv4:", "ipv6:")


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it and sets `service_name` and `db_schema`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = "service"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    # Prometheus text at http://GRPC_HOST:METRICS_PORT/metrics (tm_common.metrics); 0: no endpoint.
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    # Tracing (tm_common.tracing): the share of traces that start here which are kept (a trace
    # started upstream, at Envoy, keeps its own decision); where spans go when no
    # OTEL_EXPORTER_OTLP_ENDPOINT is set ("": nowhere); OTEL_SDK_DISABLED=true: no tracing.
    trace_sample_ratio: float = Field(default=0.01, ge=0, le=1)
    traces_file: str = ""
    otel_sdk_disabled: bool = False
    # SQLAlchemy URL of this service's own role; search_path is pinned to `db_schema`. It may name
    # a transaction-mode pooler (PgBouncer, RDS Proxy); DATABASE_DIRECT_URL then names Postgres
    # itself, for what needs a session of its own: LISTEN and migrations ("": DATABASE_URL).
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/taskmanager"
    database_direct_url: str = ""
    db_schema: str = "public"
    # Every Postgres connection this process may open, all pools and LISTEN together
    # (tm_common.db.ConnectionBudget tells how they are split).
    db_max_connections: int = Field(default=10, ge=4)
    # Server-side prepared statements (psycopg's); false behind a pooler that cannot keep them
    # (PgBouncer < 1.21 in transaction mode, or RDS Proxy, which pins the session for them).
    db_prepared_statements: bool = True
    redis_url: str = "redis://127.0.0.1:6379/0"
    environment: str = "local"
    app_version: str = "0.0.0-dev"
    log_level: str = "INFO"
    jwt_issuer: str = "taskmanager-auth"
    jwt_audience: str = "taskmanager"
    # Where the auth service listens; other services fetch its JWKS from there.
    auth_address: str = "127.0.0.1:50051"
    # The JWKS is fetched again this often (and for an unknown key id), so a key auth stopped
    # publishing stops being trusted, cached verified tokens included, within this time.
    jwks_refresh_seconds: float = Field(default=60.0, gt=0)
    # Every service of the system, "name=host:port,..." (the health endpoint asks each one).
    service_addresses: str = ""
    # Producers of events: the Redis stream their outbox relay publishes to, its approximate
    # MAXLEN, and how long published outbox rows are kept (for republishing a window).
    events_stream: str = ""
    # Run the outbox relay inside the service process (several instances are safe: one publishes).
    outbox_relay: bool = True
    events_stream_max_length: int = Field(default=1_000_000, ge=1000)
    outbox_keep_published_hours: int = Field(default=168, ge=1)
    # Consumers of events: the streams they read ("a,b"), their consumer group, and this
    # instance's name in it (stable across restarts, so a restarted instance takes back what it
    # had not acknowledged; instances that come and go are covered by XAUTOCLAIM).
    consume_streams: str = ""
    consumer_group: str = ""
    consumer_name: str = Field(default_factory=socket.gethostname)
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    max_message_bytes: int = 32 * 1024 * 1024
    # PAGE_TOKEN_SECRET: the HMAC key of page tokens (tm_common.paging), at least 16 characters and
    # the same on every instance of a service. Unset: a random key per process, with a warning.
    page_token_secret: SecretStr = SecretStr("")
    # Service identity (tm_common.identity): PEM files of the CA every peer's certificate is signed
    # by, and of this service's own certificate (its name in the SAN) and key. All three set: the
    # server speaks mTLS only and internal RPCs accept only the callers allowed to call them;
    # all empty: plaintext, and internal RPCs are not protected (a warning at startup).
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # How often a TLS process checks its three files for a renewal (cert-manager rewrites them in
    # place): new connections, served and made, then use the new ones (tm_common.identity). A
    # server also checks on each new connection it accepts.
    tls_reload_seconds: float = Field(default=60.0, gt=0)
    # With TLS: a plaintext port that serves grpc.health.v1 only, for probes that cannot present a
    # certificate (the kubelet's gRPC probes); 0: none.
    health_port: int = Field(default=0, ge=0, le=65535)

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> ServiceSettings:
        files = (self.tls_ca_file, self.tls_cert_file, self.tls_key_file)
        if any(files) and not all(files):
            raise ValueError("TLS_CA_FILE, TLS_CERT_FILE and TLS_KEY_FILE go together: set all three or none")
        return self

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls_ca_file)

    @property
    def session_database_url(self) -> str:
        """Where session-level features (LISTEN, migrations' SETs) connect: Postgres directly."""
        return self.database_direct_url or self.database_url

    @property
    def streams(self) -> list[str]:
        return [name.strip() for name in self.consume_streams.split(",") if name.strip()]

    def peers(self) -> dict[str, str]:
        """Parse SERVICE_ADDRESSES into {name: address}. An address may be a gRPC target of
        several instances, `ipv4:host:port,host:port` (the local stack's REPLICAS): its commas do
        not start a new entry."""
        peers: dict[str, str] = {}
        last = ""
        for item in filter(None, (part.strip() for part in self.service_addresses.split(","))):
            name, sep, address = item.partition("=")
            if not sep and peers.get(last, "").startswith(_MULTI_ADDRESS_SCHEMES):
                peers[last] += f",{item}"
                continue
            if not sep or not name or not address:
                raise ValueError(f"SERVICE_ADDRESSES entry {item!r} is not name=host:port")
            last = name.strip()
            peers[last] = address.strip()
        return peers
