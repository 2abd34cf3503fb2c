"""The wiring every service shares: Postgres and Redis as its dependencies (checked by /health,
closed on stop) and access tokens verified with the auth service's published keys."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

import grpc
from redis.asyncio import Redis

from taskmanager.events.v1 import events_pb2, events_pb2_grpc
from tm_common import redis_client
from tm_common.config import ServiceSettings
from tm_common.db import Database
from tm_common.jwks import jwks_from_auth_service
from tm_common.server import ServiceDefinition
from tm_common.tokens import TokenVerifier
from tm_common.write_marks import EventMarksServicer


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
    produces_events: bool = False,
) -> ServiceDefinition:
    """`produces_events`: the service writes an outbox, and answers where a caller's latest event
    stands (tm_common.write_marks) for its consumers' read-your-writes."""
    if produces_events:
        register = _with_marks(register, db, settings.events_stream)
        service_names = [*service_names, MARKS_SERVICE]
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


MARKS_SERVICE = events_pb2.DESCRIPTOR.services_by_name["EventMarksService"].full_name


def _with_marks(
    register: Callable[[grpc.aio.Server], None], db: Database, stream: str
) -> Callable[[grpc.aio.Server], None]:
    def register_with_marks(server: grpc.aio.Server) -> None:
        register(server)
        events_pb2_grpc.add_EventMarksServiceServicer_to_server(EventMarksServicer(db, stream), server)

    return register_with_marks
