"""The wiring every service shares: Postgres and Redis as its dependencies (checked by /health,
closed on stop) and access tokens verified with the auth service's published keys."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

import grpc
from redis.asyncio import Redis

from tm_common import redis_client
from tm_common.config import ServiceSettings
from tm_common.db import Database
from tm_common.jwks import jwks_from_auth_service
from tm_common.server import ServiceDefinition
from tm_common.tokens import TokenVerifier


def auth_verifier(settings: ServiceSettings) -> TokenVerifier:
    """Verifies tokens with the keys the auth service publishes (fetched on first use, then
    every `jwks_refresh_seconds`)."""
    return TokenVerifier(
        jwks_from_auth_service(settings.auth_address),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        refresh_seconds=settings.jwks_refresh_seconds,
    )


def service_definition(
    settings: ServiceSettings,
    db: Database,
    redis: Redis,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    *,
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    verifier: TokenVerifier | None = None,
    public_methods: Iterable[str] = (),
) -> ServiceDefinition:
    return ServiceDefinition(
        name=settings.service_name,
        register=register,
        service_names=service_names,
        verifier=verifier or auth_verifier(settings),
        public_methods=public_methods,
        checks={"database": db.check, "redis": lambda: redis_client.check(redis)},
        on_close=[db.close, redis.aclose],
        background=background,
    )
