"""Signing keys for access tokens, and their public half as a JWKS.

Keys are PEM files in one directory (Ed25519 -> EdDSA, RSA -> RS256), read again while the
service runs. Every key in the directory is published at once, but a new one signs only after an
activation delay, long enough for Envoy and the services to have fetched it; the old one is
retired by removing its file. A key's `kid` is its RFC 7638 thumbprint.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class KeyFile:
    """A key as found in the directory: its file name and when the file appeared there."""

    name: str
    appeared_at: float  # the file's ctime: the same for every replica that shares the file
    key: SigningKey
    pem: bytes = field(repr=False)


class KeyRing:
    """The keys of one directory, read again by `reload`. Every key is published at once; the
    last by name among those published for `activation_seconds` signs, or, while none has been
    (a first start, or a fresh copy of every file), the first by name: by the naming convention
    the oldest, which Envoy and the services already trust."""

    def __init__(
        self, directory: Path, activation_seconds: float = 0.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = directory
        self.activation_seconds = activation_seconds
        self._clock = clock
        self._files: list[KeyFile] = []
        self._signer = ""

    @classmethod
    def from_directory(
        cls,
        directory: Path,
        generate: bool,
        activation_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> KeyRing:
        if generate and not any(directory.glob("*.pem")):
            generate_key_file(directory)
        ring = cls(directory, activation_seconds, clock)
        ring.reload()
        return ring

    @property
    def current(self) -> SigningKey:
        """The key that signs now."""
        now = self._clock()
        active = [f for f in self._files if f.appeared_at + self.activation_seconds <= now]
        return (active[-1] if active else self._files[0]).key

    def jwks(self) -> list[dict[str, str]]:
        return [file.key.public_jwk for file in self._files]

    def sign(self, claims: dict[str, Any], ttl_seconds: int) -> str:
        key = self.current
        now = int(time.time())
        payload = {**claims, "iat": now, "nbf": now, "exp": now + ttl_seconds, "jti": uuid.uuid4().hex}
        return jwt.encode(payload, key.private_key, algorithm=key.alg, headers={"kid": key.kid})

    def reload(self) -> None:
        """Read the directory again. A file that is not a key (a copy in progress, a mistake), or
        no key at all, keeps the keys read before, with an error logged; at the first read, with
        nothing to keep, such files are skipped, and no key at all is an error."""
        files, errors = self._read_directory()
        for path, error in errors:
            log.error("not a signing key", extra={"file": str(path), "error": error})
        if self._files and (errors or not files):
            log.error("signing keys not reloaded: keeping the previous ones")
            return
        if not files:
            raise FileNotFoundError(f"no *.pem signing keys in {self.directory}")
        published = [f.key.kid for f in self._files]
        self._files = files
        if [f.key.kid for f in files] != published:
            log.info("signing keys published", extra={"kids": [f.key.kid for f in files]})
        if self.current.kid != self._signer:  # checked at every reload: logged within one interval
            self._signer = self.current.kid
            log.info("signing with key", extra={"kid": self._signer})

    async def reload_every(self, seconds: float) -> None:
        """Reload until cancelled (a background loop of the auth service); nothing stops it."""
        while True:
            await asyncio.sleep(seconds)
            try:
                self.reload()
            except Exception:
                log.exception("signing keys not reloaded: keeping the previous ones")

    def _read_directory(self) -> tuple[list[KeyFile], list[tuple[Path, str]]]:
        parsed = {f.pem: f.key for f in self._files}
        files, errors = [], []
        for path in sorted(self.directory.glob("*.pem")):
            try:
                pem = path.read_bytes()
                key = parsed.get(pem) or load_key(pem)
                # ctime, not mtime: `cp -p` or `touch -d` cannot make a new file look old.
                files.append(KeyFile(path.name, path.stat().st_ctime, key, pem))
            except Exception as exc:  # any unreadable or unparsable file, whatever the library raises
                errors.append((path, f"{type(exc).__name__}: {exc}"[:300]))
        return files, errors


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
