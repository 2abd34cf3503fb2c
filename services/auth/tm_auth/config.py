"""Settings of the auth service (environment variables; see README for the full list)."""

from __future__ import annotations

from pathlib import Path

from tm_common.config import ServiceSettings


class AuthSettings(ServiceSettings):
    service_name: str = "auth"
    db_schema: str = "auth"
    grpc_port: int = 50051
    events_stream: str = "events:auth"
    # Directory of PEM private keys (Ed25519 or RSA). The last by file name signs; all are published.
    jwt_keys_dir: Path = Path("data/secrets/jwt")
    # Create a signing key when the directory has none (local mode). Off in production.
    jwt_generate_key: bool = True
    access_token_ttl_seconds: int = 900
    login_limit_per_username: int = 10
    login_limit_per_address: int = 60
    login_limit_window_seconds: int = 60
    # argon2id cost (OWASP's minimum profile by default).
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
