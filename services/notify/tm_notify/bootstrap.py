"""Wiring: build the notify service's dependencies and its server definition from settings."""

from __future__ import annotations

import grpc

from taskmanager.notify.v1 import notify_pb2, notify_pb2_grpc
from tm_common import redis_client
from tm_common.db import Database
from tm_common.jwks import jwks_from_auth_service
from tm_common.server import ServiceDefinition
from tm_common.tokens import TokenVerifier
from tm_notify.config import NotifySettings

SERVICE_NAMES = [notify_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name]


def build(settings: NotifySettings) -> ServiceDefinition:
    db = Database(settings)
    redis = redis_client.connect(settings)

    def register(server: grpc.aio.Server) -> None:
        # Not built yet: every RPC answers UNIMPLEMENTED.
        notify_pb2_grpc.add_NotifyServiceServicer_to_server(notify_pb2_grpc.NotifyServiceServicer(), server)  # type: ignore[abstract]

    return ServiceDefinition(
        name=settings.service_name,
        register=register,
        service_names=SERVICE_NAMES,
        verifier=TokenVerifier(
            jwks_from_auth_service(settings.auth_address),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        ),
        checks={"database": db.check, "redis": lambda: redis_client.check(redis)},
        on_close=[db.close, redis.aclose],
    )
