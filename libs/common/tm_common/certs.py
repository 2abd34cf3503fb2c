"""Service identities (tm_common.identity) where no certificate manager issues them: a CA and one
certificate per name, made with `cryptography` and reused while valid (the local stack, through
tm_devstack.certs, and docker compose's one-shot `certs`, through the CLI below). Kubernetes gets
its own from cert-manager.

Each certificate's common name is its owner's name (what tm_common.identity reads as the caller),
with SANs DNS:<name>, DNS:localhost and IP:127.0.0.1 (a service is dialled by its name in
containers, by 127.0.0.1 on a laptop and by the image's health check). A certificate is issued
again when it is missing, expires within RENEW_BEFORE, does not match its key or was not signed by
the CA in the directory (a CA made again re-issues every certificate). Keys are 0600, directories
0700: readable by the user that made them only.

Two layouts of one directory, the CA's certificate and key at its top in both:
* flat (the local stack): <dir>/ca.crt, <dir>/<name>.crt, <dir>/<name>.key;
* one directory per identity (compose; the layout of a Kubernetes TLS Secret):
  <dir>/<name>/ca.crt, tls.crt, tls.key. A container mounts its own directory and sees neither
  the CA's key nor anyone else's.

CLI (the console script tm-certs, or python -m tm_common.certs): `tm-certs DIR NAME...` makes or
reuses the CA and each NAME's identity in DIR, one directory per identity.

Standard library and `cryptography` only: the gateway image's render stage runs this file alone.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "ca"
CA_COMMON_NAME = "taskmanager local CA"
VALID_DAYS = 825
RENEW_BEFORE = datetime.timedelta(days=30)
# A name is a DNS label (it is the certificate's DNS SAN), and a file or directory name.
NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class Identity:
    """One owner's PEM files, and the CA's certificate."""

    name: str
    ca: Path
    cert: Path
    key: Path

    def environment(self) -> dict[str, str]:
        """TLS_* for a service process (tm_common.config)."""
        return {"TLS_CA_FILE": str(self.ca), "TLS_CERT_FILE": str(self.cert), "TLS_KEY_FILE": str(self.key)}


def identity_paths(directory: Path, name: str, *, per_identity: bool) -> Identity:
    """Where name's files are in directory, in either layout."""
    if per_identity:
        own = directory / name
        return Identity(name, own / f"{CA_NAME}.crt", own / "tls.crt", own / "tls.key")
    return Identity(name, directory / f"{CA_NAME}.crt", directory / f"{name}.crt", directory / f"{name}.key")


def ensure(directory: Path, names: Iterable[str], *, per_identity: bool = False) -> dict[str, Identity]:
    """The CA and a certificate for each name in directory: made if missing, expiring, not matching
    its key or not signed by the CA there; otherwise left as they are (no file is written)."""
    return {
        name: identity
        for name, (identity, _) in ensure_reporting(directory, names, per_identity=per_identity).items()
    }


def ensure_reporting(
    directory: Path, names: Iterable[str], *, per_identity: bool = False
) -> dict[str, tuple[Identity, bool]]:
    """As ensure, with whether each identity's certificate was issued now (False: reused)."""
    names = list(names)
    for name in names:
        if not NAME.fullmatch(name) or name == CA_NAME:
            raise ValueError(f"{name!r}: an identity's name is a lowercase DNS label other than {CA_NAME!r}")
    _private_directory(directory)
    ca_key, ca_cert = _ensure_ca(directory)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    result = {}
    for name in names:
        identity = identity_paths(directory, name, per_identity=per_identity)
        if per_identity:
            _private_directory(identity.cert.parent)
            if not identity.ca.is_file() or identity.ca.read_bytes() != ca_pem:
                _write(identity.ca, ca_pem, 0o644)
        issued = not _valid(identity.cert, identity.key, ca_cert, name)
        if issued:
            key = ec.generate_private_key(ec.SECP256R1())
            # The key first: a crash between the two leaves a pair that does not match, issued again.
            _write(identity.key, _key_pem(key), 0o600)
            cert = _issue(name, key, ca_key, ca_cert)
            _write(identity.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        result[name] = (identity, issued)
    return result


def _ensure_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert_path, key_path = directory / f"{CA_NAME}.crt", directory / f"{CA_NAME}.key"
    if _valid(cert_path, key_path, None, CA_COMMON_NAME):
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
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
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
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
        .not_valid_after(min(now + datetime.timedelta(days=VALID_DAYS), ca_cert.not_valid_after_utc))
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


def _valid(cert_path: Path, key_path: Path, ca_cert: x509.Certificate | None, common_name: str) -> bool:
    """Whether the pair can be kept: both readable, the key the certificate's, the name right,
    signed by ca_cert (when given) and not expiring within RENEW_BEFORE."""
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if ca_cert is not None:
            cert.verify_directly_issued_by(ca_cert)
    except Exception:  # unreadable, or signed by another CA
        return False
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return (
        key.public_key() == cert.public_key()
        and names == [common_name]
        and cert.not_valid_after_utc - RENEW_BEFORE > _now()
    )


def _private_directory(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace path's content at once (a reader sees the old file or the new one), with mode."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tm-certs",
        description="Make or reuse a CA and a certificate per NAME in DIR/NAME/{ca.crt,tls.crt,tls.key}.",
    )
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument("names", nargs="+", metavar="NAME")
    args = parser.parse_args(argv)
    try:
        identities = ensure_reporting(args.directory, args.names, per_identity=True)
    except (ValueError, OSError) as exc:
        print(f"tm-certs: {exc}", file=sys.stderr)
        return 1
    for name, (identity, issued) in identities.items():
        expires = x509.load_pem_x509_certificate(identity.cert.read_bytes()).not_valid_after_utc
        print(f"tm-certs: {name}: {'issued' if issued else 'reused'}, valid until {expires:%Y-%m-%d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
