"""Wiring: build the auth service's dependencies and its server definition from settings."""

from __future__ import annotations

import grpc

from taskmanager.auth.v1 import auth_pb2_grpc
from tm_auth.adapters.known_addresses import KnownAddresses
from tm_auth.adapters.passwords import PasswordHasher
from tm_auth.adapters.signing import KeyRing
from tm_auth.adapters.unit_of_work import SqlAuthUnitOfWork
from tm_auth.config import AuthSettings
from tm_auth.entrypoints.grpc_api import (
    PUBLIC_METHODS,
    SERVICE_NAMES,
    AuthServicer,
    UserDirectoryServicer,
)
from tm_auth.service.accounts import AuthDeps
from tm_auth.service.login_limits import LoginLimits
from tm_common import redis_client
from tm_common.db import Database
from tm_common.ratelimit import RateLimiter
from tm_common.relay import relay_loops
from tm_common.server import ServiceDefinition
from tm_common.tokens import TokenVerifier
from tm_common.uow import UnitsOfWork
from tm_common.wiring import service_definition


def build(settings: AuthSettings) -> ServiceDefinition:
    db = Database(settings)
    redis = redis_client.connect(settings)
    keys = KeyRing.from_directory(
        settings.jwt_keys_dir,
        generate=settings.jwt_generate_key,
        activation_seconds=settings.jwt_key_activation_seconds,
    )
    deps = AuthDeps(
        settings=settings,
        uow=UnitsOfWork(SqlAuthUnitOfWork, db),
        hasher=PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_kib),
        keys=keys,
        login_limits=LoginLimits(
            settings,
            RateLimiter(redis, prefix="auth:ratelimit"),
            KnownAddresses(redis, "auth:login-known", settings.login_limit_known_address_seconds),
        ),
    )

    async def own_jwks() -> list[dict[str, str]]:
        return keys.jwks()

    def register(server: grpc.aio.Server) -> None:
        auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(deps), server)
        auth_pb2_grpc.add_UserDirectoryServiceServicer_to_server(UserDirectoryServicer(deps), server)

    return service_definition(
        settings,
        db,
        redis,
        register,
        SERVICE_NAMES,
        public_methods=PUBLIC_METHODS,
        verifier=TokenVerifier(
            own_jwks,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            refresh_seconds=settings.jwks_refresh_seconds,
        ),
        background=[
            *relay_loops(settings, db, redis),
            lambda: keys.reload_every(settings.jwt_keys_reload_seconds),
        ],
        produces_events=True,
    )
