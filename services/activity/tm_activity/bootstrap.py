"""Wiring: build the activity service's dependencies and its server definition from settings."""

from __future__ import annotations

import grpc

from taskmanager.activity.v1 import activity_pb2_grpc
from tm_activity.adapters.unit_of_work import SqlActivityUnitOfWork
from tm_activity.config import ActivitySettings
from tm_activity.entrypoints.consumer import RecordEvents
from tm_activity.entrypoints.grpc_api import SERVICE_NAMES, ActivityServicer
from tm_activity.service.activity import ActivityDeps
from tm_common import redis_client
from tm_common.consumer import consumer_loops
from tm_common.db import Database
from tm_common.paging import page_tokens
from tm_common.server import ServiceDefinition
from tm_common.uow import UnitsOfWork
from tm_common.wiring import service_definition
from tm_common.write_marks import OwnWrites, producers_of


def build(settings: ActivitySettings) -> ServiceDefinition:
    db = Database(settings)
    redis = redis_client.connect(settings)
    own_writes = OwnWrites(
        producers_of(settings), redis, settings.consumer_group, settings.read_your_writes_seconds
    )
    deps = ActivityDeps(
        uow=UnitsOfWork(SqlActivityUnitOfWork, db), tokens=page_tokens(settings), own_writes=own_writes
    )

    def register(server: grpc.aio.Server) -> None:
        activity_pb2_grpc.add_ActivityServiceServicer_to_server(ActivityServicer(deps), server)

    return service_definition(
        settings,
        db,
        redis,
        register,
        SERVICE_NAMES,
        background=consumer_loops(settings, db, redis, RecordEvents(deps.uow), batches=True),
    )
