"""Settings of the auth service (environment variables; see README for the full list)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from tm_common.config import ServiceSettings


class AuthSettings(ServiceSettings):
    service_name: str = "auth"
    db_schema: str = "auth"
    grpc_port: int = 50051
    events_stream: str = "events:auth"
    # Directory of PEM private keys (Ed25519 or RSA), read again every `jwt_keys_reload_seconds`:
    # every key is published at once; the last by file name among those whose file appeared at
    # least `jwt_key_activation_seconds` ago signs (README, Security model: Key rotation).
    jwt_keys_dir: Path = Path("data/secrets/jwt")
    jwt_keys_reload_seconds: float = Field(default=10.0, gt=0)
    # Longer than the time a new file takes to reach every replica, plus the reload, plus the
    # longer of Envoy's JWKS cache (JWKS_CACHE_SECONDS, 60) and the services' refresh (60).
    jwt_key_activation_seconds: float = Field(default=300.0, ge=0)
    # Create a signing key when the directory has none (local mode). Off in production.
    jwt_generate_key: bool = True
    access_token_ttl_seconds: int = 900
    # Login limits (README, Security model). Every attempt from one address, per window:
    login_limit_per_address: int = Field(default=60, ge=1)
    login_limit_window_seconds: int = Field(default=60, ge=1)
    # Attempts on one username from one address until one succeeds, per username window:
    login_limit_per_username_address: int = Field(default=10, ge=1)
    # Attempts on one username from addresses it has not logged in from recently, per username
    # window: a ceiling for guesses spread over many addresses, which the owner's addresses skip.
    login_limit_per_username: int = Field(default=100, ge=1)
    login_limit_username_window_seconds: int = Field(default=900, ge=1)
    # How long an address that logged in as a user stays known (skips that user's ceiling).
    login_limit_known_address_seconds: int = Field(default=30 * 86400, ge=1)
    # argon2id cost (OWASP's minimum profile by default).
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
