"""Wiring: build the notify service's dependencies and its server definition from settings."""

from __future__ import annotations

import logging
import secrets

import grpc

from taskmanager.notify.v1 import notify_pb2_grpc
from tm_common import redis_client
from tm_common.consumer import consumer_loops
from tm_common.db import Database
from tm_common.ratelimit import Limit, RateLimiter
from tm_common.server import ServiceDefinition
from tm_common.uow import UnitsOfWork
from tm_common.users import UserDirectory
from tm_common.wiring import service_definition
from tm_notify.adapters.delivery_store import DeliveryQueueSampler, DeliveryWakeups
from tm_notify.adapters.events import HANDLED
from tm_notify.adapters.senders import LocalLogSender, SnsSender
from tm_notify.adapters.unit_of_work import SqlNotifyUnitOfWork
from tm_notify.config import NotifySettings
from tm_notify.domain.sending import RetryPolicy
from tm_notify.entrypoints.consumer import event_handler
from tm_notify.entrypoints.grpc_api import SERVICE_NAMES, NotifyServicer
from tm_notify.service.deps import CodePolicy, NotifyDeps
from tm_notify.service.sending import DeliveryLoop, SenderSettings
from tm_notify.service.unit_of_work import EmailSender

log = logging.getLogger(__name__)
MIN_SECRET_LENGTH = 16


def code_key(settings: NotifySettings) -> bytes:
    if not settings.notify_code_secret:
        log.warning("NOTIFY_CODE_SECRET is not set: codes sent by this process stop working when it restarts")
        return secrets.token_bytes(32)
    if len(settings.notify_code_secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"NOTIFY_CODE_SECRET must be at least {MIN_SECRET_LENGTH} characters")
    return settings.notify_code_secret.encode()


def code_policy(settings: NotifySettings) -> CodePolicy:
    return CodePolicy(
        key=code_key(settings),
        ttl_seconds=settings.verify_code_ttl_seconds,
        max_attempts=settings.verify_code_max_attempts,
        verify_limit=Limit("verify", settings.verify_limit_per_user, settings.verify_limit_window_seconds),
        subscribe_limit=Limit(
            "subscribe", settings.subscribe_limit_per_user, settings.subscribe_limit_window_seconds
        ),
    )


def email_sender(settings: NotifySettings, db: Database) -> EmailSender:
    if settings.sns_topic_arn:
        return SnsSender.create(
            settings.sns_topic_arn,
            settings.sns_region,
            settings.sns_endpoint_url,
            settings.sns_timeout_seconds,
        )
    return LocalLogSender(db)


def sender_settings(settings: NotifySettings) -> SenderSettings:
    return SenderSettings(
        worker=settings.consumer_name,
        retry=RetryPolicy(
            max_attempts=settings.send_max_attempts,
            base_seconds=settings.send_backoff_seconds,
            max_seconds=settings.send_backoff_max_seconds,
            defer_seconds=settings.send_defer_seconds,
        ),
        lease_seconds=settings.send_lease_seconds,
        batch_size=settings.send_batch_size,
        concurrency=settings.send_concurrency,
        poll_seconds=settings.send_poll_seconds,
    )


def build(settings: NotifySettings) -> ServiceDefinition:
    db = Database(settings)
    redis = redis_client.connect(settings)
    sender = email_sender(settings, db)
    units = UnitsOfWork(SqlNotifyUnitOfWork, db)
    deps = NotifyDeps(
        uow=units,
        limiter=RateLimiter(redis, "notify"),
        directory=UserDirectory(settings.auth_address),
        sender=sender,
        codes=code_policy(settings),
    )
    consumers = consumer_loops(settings, db, redis, event_handler(units.joining), HANDLED)
    sending = DeliveryLoop(units, sender, sender_settings(settings), DeliveryWakeups(db))

    def register(server: grpc.aio.Server) -> None:
        notify_pb2_grpc.add_NotifyServiceServicer_to_server(NotifyServicer(deps), server)

    return service_definition(
        settings,
        db,
        redis,
        register,
        SERVICE_NAMES,
        background=[*consumers, sending.run, DeliveryQueueSampler(db).run],
    )
