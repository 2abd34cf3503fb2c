"""The local stack's service identities: a CA and one certificate per service, for the gateway and
for the tests, made with `cryptography` in DATA_DIR/secrets/tls and reused while valid.

Each certificate's common name is its owner's name (what tm_common.identity reads as the caller),
with SANs DNS:<name>, DNS:localhost and IP:127.0.0.1 (a service is dialled by its name in
containers, by 127.0.0.1 here). Keys are 0600; Kubernetes gets its own from cert-manager."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

GATEWAY = "gateway"
TEST_CLIENT = "test-client"
CA_NAME = "ca"
VALID_DAYS = 825
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Identity:
    """One owner's PEM files, and the CA's."""

    name: str
    ca: Path
    cert: Path
    key: Path

    def environment(self) -> dict[str, str]:
        """TLS_* for a service process (tm_common.config)."""
        return {"TLS_CA_FILE": str(self.ca), "TLS_CERT_FILE": str(self.cert), "TLS_KEY_FILE": str(self.key)}


def ensure(directory: Path, names: Iterable[str]) -> dict[str, Identity]:
    """The CA and a certificate for each name in directory: made if missing, expiring or not
    signed by the CA there (a CA made again re-issues every certificate)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ca_key, ca_cert = _ensure_ca(directory)
    identities = {}
    for name in names:
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        if not _valid(cert_path, key_path, ca_cert):
            key = ec.generate_private_key(ec.SECP256R1())
            _write_key(key_path, key)
            cert_path.write_bytes(_issue(name, key, ca_key, ca_cert).public_bytes(serialization.Encoding.PEM))
        identities[name] = Identity(name, directory / f"{CA_NAME}.crt", cert_path, key_path)
    return identities


def _ensure_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert_path, key_path = directory / f"{CA_NAME}.crt", directory / f"{CA_NAME}.key"
    if _valid(cert_path, key_path, None):
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "taskmanager local CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _issue(
    name: str, key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> x509.Certificate:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(name),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        # Every process is both a server and a client of others.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _valid(cert_path: Path, key_path: Path, ca_cert: x509.Certificate | None) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if ca_cert is not None:
            cert.verify_directly_issued_by(ca_cert)
    except Exception:  # unreadable, or signed by another CA
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > _now()


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
