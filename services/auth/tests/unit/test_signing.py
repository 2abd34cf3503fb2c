import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
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
