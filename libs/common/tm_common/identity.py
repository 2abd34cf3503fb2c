"""Service identity: mutual TLS between the services, and between Envoy and the services.

Every process holds a certificate signed by the deployment's CA whose common name (and first DNS
SAN) is its name: a service's name, "gateway" for Envoy. A server configured with TLS
(TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE) accepts only connections that present such a
certificate, and the caller's name, read from the verified certificate, decides who may call the
internal-only RPCs (INTERNAL_CALLERS). A user's token proves who the *user* is; it never makes
its bearer a service.

Renewal without a restart. cert-manager renews the certificates (30 days before they expire) by
rewriting the mounted Secret's files in place (the kubelet swaps a `..data` symlink, atomically).
One CertificateWatcher per set of files (watcher_for) holds what was last read from them; its
`refresh` stats the three files (device, inode, mtime, size, following symlinks) and reads them
again only when that changed. A new set is taken only when it is whole: every PEM parses and the
key is the certificate's; a set read half-written keeps the previous one (logged, counted as
rejected) and is read again when the files change again. Then:

* the server (server_credentials) hands grpc dynamic credentials whose fetcher, called on each new
  handshake, refreshes the watcher and gives a new configuration only when the files changed;
* the clients' credentials (client_credentials) follow the same watcher: each change bumps
  client_generation(), and tm_common.clients' channels, which check it before each call, make
  their connections over a new channel from then on and close the old one after a grace period
  (calls in flight finish on it);
* keep_current, a background loop of every TLS server (tm_common.server), refreshes every watcher
  each TLS_RELOAD_SECONDS, so a process that accepts no new connection still renews its clients'
  certificate and keeps its metrics current: tm_tls_reloads_total{result} and
  tm_tls_certificate_expiry_timestamp_seconds (tm_common.metrics; alert TlsCertificateExpiringSoon).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tm_common import loops, metrics
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

    def stamp(self) -> tuple[tuple[int, int, int, int], ...]:
        """What changes when a file is replaced or rewritten (os.stat follows the symlinks)."""
        stats = [os.stat(path) for path in (self.ca, self.cert, self.key)]
        return tuple((s.st_dev, s.st_ino, s.st_mtime_ns, s.st_size) for s in stats)


class TlsFilesError(ValueError):
    """The files do not make a usable identity (unparsable, or a key that is not the certificate's)."""


@dataclass(frozen=True)
class TlsMaterial:
    """The three files' contents, checked to go together, and what the metrics say of them."""

    ca: bytes
    cert: bytes
    key: bytes
    serial: int
    not_after: float  # the certificate's expiry, seconds since the epoch

    @classmethod
    def read(cls, files: TlsFiles) -> TlsMaterial:
        ca, cert, key = files.ca.read_bytes(), files.cert.read_bytes(), files.key.read_bytes()
        try:
            if not x509.load_pem_x509_certificates(ca):
                raise ValueError("no CA certificate")
            leaf = x509.load_pem_x509_certificates(cert)[0]  # then its chain, if any
            private_key = serialization.load_pem_private_key(key, password=None)
        except ValueError as exc:
            raise TlsFilesError(f"unparsable PEM: {exc}") from exc
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        encoding = serialization.Encoding.DER
        if private_key.public_key().public_bytes(encoding, public) != leaf.public_key().public_bytes(
            encoding, public
        ):
            raise TlsFilesError(f"{files.key} is not the key of {files.cert}")
        return cls(ca, cert, key, leaf.serial_number, leaf.not_valid_after_utc.timestamp())


class CertificateWatcher:
    """The current contents of one set of TLS files, read again when they change (see the module's
    docstring). Thread-safe: grpc calls the server's fetcher outside the event loop."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._lock = threading.Lock()
        self._stamp: object = files.stamp()
        self.material = TlsMaterial.read(files)  # at startup, unusable files are fatal
        self.generation = 0
        metrics.TLS_CERTIFICATES.track(self)
        for result in ("loaded", "rejected"):  # both series from 0, for increase() in alerts
            metrics.TLS_RELOADS.labels(result)

    @property
    def not_after(self) -> float:
        return self.material.not_after

    def refresh(self) -> bool:
        """Read the files again if they changed since last read; True when a new set was taken."""
        with self._lock:
            try:
                stamp: object = self.files.stamp()
            except OSError as exc:  # a file missing (mid-swap, or a broken mount)
                stamp = f"unreadable: {exc}"
            if stamp == self._stamp:
                return False
            try:
                if isinstance(stamp, str):
                    raise TlsFilesError(stamp)
                material = TlsMaterial.read(self.files)
                if self.files.stamp() != stamp:
                    return False  # rewritten while being read: read again next time
            except (OSError, TlsFilesError) as exc:
                self._stamp = stamp  # not read again until the files change again
                metrics.TLS_RELOADS.labels("rejected").inc()
                log.warning(
                    "TLS files changed but cannot be used: keeping the previous ones",
                    extra={"cert_file": str(self.files.cert), "error": f"{type(exc).__name__}: {exc}"[:300]},
                )
                return False
            self._stamp = stamp
            if material == self.material:
                return False  # touched, not changed
            self.material = material
            self.generation += 1
        metrics.TLS_RELOADS.labels("loaded").inc()
        log.info(
            "TLS files reloaded",
            extra={
                "cert_file": str(self.files.cert),
                "serial": f"{material.serial:x}",
                "not_after": material.not_after,
            },
        )
        return True


_watchers: dict[TlsFiles, CertificateWatcher] = {}
_watchers_lock = threading.Lock()


def watcher_for(files: TlsFiles) -> CertificateWatcher:
    """The process's watcher of these files (one per set: the server and the clients share it)."""
    with _watchers_lock:
        found = _watchers.get(files)
        if found is None:
            found = _watchers[files] = CertificateWatcher(files)
        return found


def refresh_all() -> None:
    for watcher in list(_watchers.values()):
        watcher.refresh()


async def keep_current(seconds: float) -> None:
    """Refresh every watcher of the process every `seconds`, until cancelled."""

    async def step() -> None:
        refresh_all()

    await loops.every("tls reload", seconds, step)


def _server_configuration(material: TlsMaterial) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(material.key, material.cert)], root_certificates=material.ca
    )


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """mTLS: the client must present a certificate signed by the CA. Each new connection's handshake
    checks the files first, so a renewed certificate (or CA) serves from the next connection on."""
    watcher = watcher_for(files)
    served = watcher.material

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        nonlocal served
        try:
            watcher.refresh()
            material = watcher.material
            if material is served:
                return None
            served = material
            return _server_configuration(material)
        except Exception:  # grpc would fail the handshake: keep serving what we have
            log.exception("TLS certificate check failed", extra={"cert_file": str(files.cert)})
            return None

    return grpc.dynamic_ssl_server_credentials(
        _server_configuration(served),
        fetch,  # type: ignore[arg-type]  # grpc's stub omits the None its docs allow (no change)
        require_client_authentication=True,
    )


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    """Verify the server against the CA; present our own certificate as the client's (the files as
    they are now: tm_common.clients' channels follow client_credentials(), which is kept current)."""
    return _channel_credentials(TlsMaterial.read(files))


def _channel_credentials(material: TlsMaterial) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=material.ca, private_key=material.key, certificate_chain=material.cert
    )


# The watcher of the files every channel of this process uses (tm_common.clients), set at startup by
# the service's main, and the credentials made of its current material. None: plaintext channels
# (in-process test servers, TLS off).
_client_watcher: CertificateWatcher | None = None
_client_credentials: tuple[TlsMaterial, grpc.ChannelCredentials] | None = None
_client_generation = 0  # bumped by use_client_tls too: a channel follows a change of files or of TLS


def use_client_tls(files: TlsFiles | None) -> None:
    global _client_watcher, _client_credentials, _client_generation
    _client_watcher = watcher_for(files) if files is not None else None
    _client_credentials = None
    _client_generation += 1


def client_generation() -> tuple[int, int]:
    """Changes whenever client_credentials() would give other credentials than before (cheap: no
    file access)."""
    return _client_generation, _client_watcher.generation if _client_watcher else 0


def client_credentials() -> grpc.ChannelCredentials | None:
    """The credentials of the files' current contents (made again once they changed)."""
    global _client_credentials
    watcher = _client_watcher
    if watcher is None:
        return None
    material = watcher.material
    if _client_credentials is None or _client_credentials[0] is not material:
        _client_credentials = (material, _channel_credentials(material))
    return _client_credentials[1]


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
