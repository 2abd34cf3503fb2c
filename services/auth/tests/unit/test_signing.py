import asyncio
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import get_default_algorithms

from tm_auth.adapters.signing import KeyRing, generate_key_file, load_key


def test_generated_key_signs_tokens_its_jwk_verifies(tmp_path) -> None:
    ring = KeyRing.from_directory(tmp_path, generate=True)
    token = ring.sign({"sub": "1", "aud": "a", "iss": "i"}, ttl_seconds=60)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == ring.current.kid
    (jwk,) = ring.jwks()
    public = get_default_algorithms()["EdDSA"].from_jwk(jwk)
    claims = jwt.decode(token, public, algorithms=["EdDSA"], audience="a", issuer="i")
    assert claims["exp"] - claims["iat"] == 60
    assert claims["jti"]


def test_key_files_are_private(tmp_path) -> None:
    path = generate_key_file(tmp_path)
    assert path.stat().st_mode & 0o077 == 0


def test_no_keys_and_no_generation_is_an_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        KeyRing.from_directory(tmp_path, generate=False)


def test_last_key_signs_and_all_are_published(tmp_path) -> None:
    old = generate_key_file(tmp_path)
    newer = tmp_path / "zz-newer.pem"
    newer.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ring = KeyRing.from_directory(tmp_path, generate=False)
    assert ring.current.alg == "RS256"
    assert {k["kid"] for k in ring.jwks()} == {load_key(old.read_bytes()).kid, ring.current.kid}


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # The RFC 8037 appendix A.3 example: Ed25519 public key and its thumbprint.
    from tm_auth.adapters.signing import _public_jwk

    class FakePrivate:
        def public_key(self):
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            raw = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            return Ed25519PublicKey.from_public_bytes(raw)

    _, jwk = _public_jwk(FakePrivate())
    assert jwk["kid"] == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


# -- rotation: the directory is read again while auth runs ------------------------------------
ACTIVATION = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def write_key(directory, name: str) -> str:
    """A new Ed25519 key file; returns its kid."""
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / name).write_bytes(pem)
    return load_key(pem).kid


def signed_kid(ring: KeyRing) -> str:
    return jwt.get_unverified_header(ring.sign({"sub": "1"}, ttl_seconds=60))["kid"]


def published(ring: KeyRing) -> set[str]:
    return {jwk["kid"] for jwk in ring.jwks()}


def test_a_new_key_is_published_at_once_and_signs_only_after_activation(tmp_path) -> None:
    clock = Clock()
    old = write_key(tmp_path, "a.pem")
    ring = KeyRing.from_directory(tmp_path, generate=False, activation_seconds=ACTIVATION, clock=clock)
    time.sleep(0.05)  # the two files appear (ctime) 50 ms apart
    new = write_key(tmp_path, "b.pem")
    appeared = (tmp_path / "b.pem").stat().st_ctime
    ring.reload()
    assert published(ring) == {old, new}
    clock.now = appeared + ACTIVATION - 0.02  # the old key is active, the new one not yet
    assert signed_kid(ring) == old
    clock.now = appeared + ACTIVATION
    assert signed_kid(ring) == new == ring.current.kid


def test_at_a_first_start_with_only_new_keys_the_first_by_name_signs(tmp_path) -> None:
    # A fresh copy of every file (a new pod or task): the oldest key by the naming convention,
    # which Envoy and the services trust already, signs until the activation delay has passed.
    first = write_key(tmp_path, "ed25519-20260101T000000.pem")
    second = write_key(tmp_path, "ed25519-20260201T000000.pem")
    clock = Clock()
    ring = KeyRing.from_directory(tmp_path, generate=False, activation_seconds=ACTIVATION, clock=clock)
    assert signed_kid(ring) == first
    clock.now += ACTIVATION + 1
    assert signed_kid(ring) == second


def test_a_removed_key_is_no_longer_published_nor_used(tmp_path) -> None:
    old = write_key(tmp_path, "a.pem")
    new = write_key(tmp_path, "b.pem")
    ring = KeyRing.from_directory(tmp_path, generate=False)
    (tmp_path / "b.pem").unlink()
    ring.reload()
    assert published(ring) == {old}
    assert signed_kid(ring) == old
    assert new not in published(ring)


def test_a_file_that_is_not_a_key_keeps_the_previous_keys(tmp_path, caplog) -> None:
    old = write_key(tmp_path, "a.pem")
    ring = KeyRing.from_directory(tmp_path, generate=False)
    new = write_key(tmp_path, "b.pem")
    (tmp_path / "c.pem").write_text("-----BEGIN PRIVATE KEY-----\nhalf a cop")  # a copy in progress
    ring.reload()
    assert published(ring) == {old}
    assert signed_kid(ring) == old
    assert any(r.levelname == "ERROR" and "c.pem" in str(r.__dict__.get("file")) for r in caplog.records)
    (tmp_path / "c.pem").unlink()
    ring.reload()
    assert published(ring) == {old, new}


def test_an_emptied_directory_keeps_the_previous_keys(tmp_path) -> None:
    old = write_key(tmp_path, "a.pem")
    ring = KeyRing.from_directory(tmp_path, generate=False)
    (tmp_path / "a.pem").unlink()
    ring.reload()
    assert published(ring) == {old}
    assert signed_kid(ring) == old


def test_a_broken_file_at_start_is_skipped_if_another_key_loads(tmp_path) -> None:
    good = write_key(tmp_path, "a.pem")
    (tmp_path / "b.pem").write_text("not a key")
    ring = KeyRing.from_directory(tmp_path, generate=False)
    assert published(ring) == {good}
    (tmp_path / "a.pem").unlink()
    with pytest.raises(FileNotFoundError):
        KeyRing.from_directory(tmp_path, generate=False)


async def test_the_reload_loop_picks_up_new_files(tmp_path) -> None:
    old = write_key(tmp_path, "a.pem")
    ring = KeyRing.from_directory(tmp_path, generate=False)
    loop = asyncio.create_task(ring.reload_every(0.05))
    try:
        new = write_key(tmp_path, "b.pem")
        for _ in range(100):
            if published(ring) == {old, new}:
                break
            await asyncio.sleep(0.02)
        assert published(ring) == {old, new}
    finally:
        loop.cancel()
