"""Forged and broken access tokens, signed with the stack's own key or a stranger's."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519

ISSUER = "taskmanager-auth"
AUDIENCE = "taskmanager"


def claims(user_id: int = 1, username: str = "someone", ttl: int = 300, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": str(user_id),
        "username": username,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl,
        **extra,
    }


def signing_key(jwt_keys_dir: Path) -> tuple[str, Any]:
    """(kid, private key) of the stack's current signing key, to mint tokens the system trusts."""
    from tm_auth.adapters.signing import KeyRing

    ring = KeyRing.from_directory(jwt_keys_dir, generate=False)
    return ring.current.kid, ring.current.private_key


def token(private_key: Any, kid: str, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, private_key, algorithm="EdDSA", headers={"kid": kid})


def expired_token(jwt_keys_dir: Path) -> str:
    kid, key = signing_key(jwt_keys_dir)
    return token(key, kid, claims(ttl=-120))


def wrong_key_token(jwt_keys_dir: Path) -> str:
    """Signed by a stranger's key that claims the real key's id."""
    kid, _ = signing_key(jwt_keys_dir)
    return token(ed25519.Ed25519PrivateKey.generate(), kid, claims())


def alg_none_token(jwt_keys_dir: Path) -> str:
    kid, _ = signing_key(jwt_keys_dir)

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(claims())}."


def tampered_token(valid: str) -> str:
    """A real token whose payload was changed after signing (user id 1 -> someone else)."""
    header, payload, signature = valid.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["sub"] = str(int(data["sub"]) + 1000)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"
