"""tm_common.certs: the CA and the service identities it issues, in both layouts, kept while valid
and issued again when they expire soon, do not match their key or come from another CA. (A real
mTLS handshake with them: tests/deploy/test_compose.py and test_identity.py.)"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tm_common import certs


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_one_directory_per_identity_with_the_cas_certificate_beside(tmp_path: Path) -> None:
    identities = certs.ensure(tmp_path, ["auth", "gateway"], per_identity=True)
    for name, identity in identities.items():
        assert identity == certs.identity_paths(tmp_path, name, per_identity=True)
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
        assert identity.ca.read_bytes() == (tmp_path / "ca.crt").read_bytes()
        cert = load(identity.cert)
        cert.verify_directly_issued_by(load(identity.ca))
        assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [name]
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert name in sans.get_values_for_type(x509.DNSName)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth", "ca.crt", "ca.key", "gateway"]


def test_a_certificate_expiring_soon_is_issued_again_by_the_same_ca(tmp_path: Path) -> None:
    identity = certs.ensure(tmp_path, ["tasks"], per_identity=True)["tasks"]
    ca_pem = (tmp_path / "ca.crt").read_bytes()
    ca_key = serialization.load_pem_private_key((tmp_path / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    short = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tasks")]))
        .issuer_name(load(tmp_path / "ca.crt").subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + certs.RENEW_BEFORE - datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    identity.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    identity.cert.write_bytes(short.public_bytes(serialization.Encoding.PEM))
    certs.ensure(tmp_path, ["tasks"], per_identity=True)
    renewed = load(identity.cert)
    assert renewed.not_valid_after_utc - now > datetime.timedelta(days=certs.VALID_DAYS - 1)
    assert (tmp_path / "ca.crt").read_bytes() == ca_pem == identity.ca.read_bytes()


def test_a_ca_expiring_soon_is_made_again_and_every_identity_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = certs.ensure(tmp_path, ["tasks"], per_identity=True)["tasks"]
    old_ca, old_cert = identity.ca.read_bytes(), identity.cert.read_bytes()
    later = (
        datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=certs.VALID_DAYS) - certs.RENEW_BEFORE
    )
    monkeypatch.setattr(certs, "_now", lambda: later)
    certs.ensure(tmp_path, ["tasks"], per_identity=True)
    assert identity.ca.read_bytes() != old_ca and identity.cert.read_bytes() != old_cert
    assert identity.ca.read_bytes() == (tmp_path / "ca.crt").read_bytes()
    load(identity.cert).verify_directly_issued_by(load(identity.ca))


def test_a_certificate_that_does_not_match_its_key_is_issued_again(tmp_path: Path) -> None:
    identity = certs.ensure(tmp_path, ["notify"])["notify"]
    pem = identity.cert.read_bytes()
    assert certs.ensure(tmp_path, ["notify"])["notify"].cert.read_bytes() == pem
    # As if the process stopped between writing a new key and its certificate.
    other = ec.generate_private_key(ec.SECP256R1())
    identity.key.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    certs.ensure(tmp_path, ["notify"])
    assert identity.cert.read_bytes() != pem
    key = serialization.load_pem_private_key(identity.key.read_bytes(), password=None)
    assert load(identity.cert).public_key() == key.public_key()


@pytest.mark.parametrize("name", ["ca", "../auth", "Auth", "", "a/b", "-x", "auth\n"])
def test_names_are_dns_labels_and_not_the_cas(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="DNS label"):
        certs.ensure(tmp_path, [name], per_identity=True)
    result = subprocess.run(
        [sys.executable, "-m", "tm_common.certs", tmp_path / "cli", "auth", name],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert not (tmp_path / "cli" / "auth").exists()  # refused before anything was made
