"""Signing keys for access tokens, and their public half as a JWKS.

Keys are PEM files in one directory (Ed25519 -> EdDSA, RSA -> RS256). The last file by name
signs; every key in the directory is published, so a new key can be added before the old one is
retired. A key's `kid` is its RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: Any
    public_jwk: dict[str, str]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_jwk(private_key: Any) -> tuple[str, dict[str, str]]:
    public = private_key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members, alg = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}, "EdDSA"
    elif isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        members = {
            "e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "kty": "RSA",
            "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        }
        alg = "RS256"
    else:
        raise ValueError(f"unsupported key type {type(public).__name__}")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = _b64(hashlib.sha256(canonical).digest())
    return alg, {**members, "kid": kid, "alg": alg, "use": "sig"}


def load_key(pem: bytes) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem, password=None)
    alg, jwk = _public_jwk(private_key)
    return SigningKey(kid=jwk["kid"], alg=alg, private_key=private_key, public_jwk=jwk)


class KeyRing:
    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("no signing keys")
        self.keys = keys
        self.current = keys[-1]

    @classmethod
    def from_directory(cls, directory: Path, generate: bool) -> KeyRing:
        files = sorted(directory.glob("*.pem")) if directory.is_dir() else []
        if not files:
            if not generate:
                raise FileNotFoundError(f"no *.pem signing keys in {directory}")
            files = [generate_key_file(directory)]
        return cls([load_key(path.read_bytes()) for path in files])

    def jwks(self) -> list[dict[str, str]]:
        return [key.public_jwk for key in self.keys]

    def sign(self, claims: dict[str, Any], ttl_seconds: int) -> str:
        now = int(time.time())
        payload = {**claims, "iat": now, "nbf": now, "exp": now + ttl_seconds, "jti": uuid.uuid4().hex}
        return jwt.encode(
            payload, self.current.private_key, algorithm=self.current.alg, headers={"kid": self.current.kid}
        )


def generate_key_file(directory: Path) -> Path:
    """Create a new Ed25519 key, readable by its owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"ed25519-{time.strftime('%Y%m%dT%H%M%S')}.pem"
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return path
