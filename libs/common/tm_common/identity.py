"""Service identity: mutual TLS between the services, and between Envoy and the services.

Every process holds a certificate signed by the deployment's CA whose common name (and first DNS
SAN) is its name: a service's name, "gateway" for Envoy. A server configured with TLS
(TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE) accepts only connections that present such a
certificate, and the caller's name, read from the verified certificate, decides who may call the
internal-only RPCs (INTERNAL_CALLERS). A user's token proves who the *user* is; it never makes
its bearer a service.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from tm_common.config import ServiceSettings

log = logging.getLogger(__name__)

GATEWAY = "gateway"
SERVICE_NAMES = ("auth", "tasks", "files", "activity", "notify")

# Internal-only services (no gateway route) and the identities allowed to call them: who calls
# whom is in tm_common.users (tasks, notify -> auth), tm_files.adapters.task_access (files ->
# tasks), tm_common.write_marks (activity -> every producer) and tm_common.health (every
# service's GetHealth -> every other service's diagnostics).
INTERNAL_CALLERS: Mapping[str, frozenset[str]] = {
    "taskmanager.auth.v1.UserDirectoryService": frozenset({"tasks", "notify"}),
    "taskmanager.tasks.v1.TaskAccessService": frozenset({"files"}),
    "taskmanager.events.v1.EventMarksService": frozenset({"activity"}),
    "taskmanager.ops.v1.DiagnosticsService": frozenset(SERVICE_NAMES),
}


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA's certificate, and this process's certificate and private key."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TlsFiles | None:
        """The files TLS_* name, or None when TLS is off (all three empty)."""
        if not settings.tls_enabled:
            return None
        return cls(Path(settings.tls_ca_file), Path(settings.tls_cert_file), Path(settings.tls_key_file))


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """mTLS: the client must present a certificate signed by the CA."""
    return grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())],
        root_certificates=files.ca.read_bytes(),
        require_client_auth=True,
    )


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    """Verify the server against the CA; present our own certificate as the client's."""
    return grpc.ssl_channel_credentials(
        root_certificates=files.ca.read_bytes(),
        private_key=files.key.read_bytes(),
        certificate_chain=files.cert.read_bytes(),
    )


# The credentials every channel of this process uses (tm_common.clients), set once at startup by
# the service's main. None: plaintext channels (in-process test servers, TLS off).
_client_credentials: grpc.ChannelCredentials | None = None


def use_client_tls(files: TlsFiles | None) -> None:
    global _client_credentials
    _client_credentials = channel_credentials(files) if files is not None else None


def client_credentials() -> grpc.ChannelCredentials | None:
    return _client_credentials


def caller_identity(context: grpc.aio.ServicerContext) -> str | None:
    """The name in the caller's verified client certificate (its common name); None over plaintext."""
    name = next(iter(context.auth_context().get("x509_common_name") or ()), None)
    return name.decode() if name is not None else None


def service_of(method: str) -> str:
    """The service of a method path: "/pkg.Service/Method" -> "pkg.Service"."""
    return method.strip("/").partition("/")[0]


def is_internal(method: str) -> bool:
    return service_of(method) in INTERNAL_CALLERS


def may_call(method: str, identity: str | None) -> bool:
    """Whether a caller with this identity may call method: anyone (a user's token still decides,
    tm_common.interceptors) for a public RPC, only the listed services for an internal one."""
    allowed = INTERNAL_CALLERS.get(service_of(method))
    return allowed is None or identity in allowed


def warn_unprotected(service: str) -> None:
    log.warning(
        "TLS is off (TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE unset): internal RPCs are not protected",
        extra={"service": service, "internal_services": sorted(INTERNAL_CALLERS)},
    )
