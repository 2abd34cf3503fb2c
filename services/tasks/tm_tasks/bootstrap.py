"""Wiring: build the tasks service's dependencies and its server definition from settings."""

from __future__ import annotations

from datetime import timedelta

import grpc

from taskmanager.tasks.v1 import tasks_pb2_grpc
from tm_common import redis_client
from tm_common.db import Database
from tm_common.paging import page_tokens
from tm_common.relay import relay_loops
from tm_common.server import ServiceDefinition
from tm_common.uow import UnitsOfWork
from tm_common.users import UserDirectory
from tm_common.wiring import service_definition
from tm_tasks.adapters.reminder_store import SqlRemindersUnitOfWork
from tm_tasks.adapters.task_store import TaskStore
from tm_tasks.adapters.unit_of_work import SqlTasksUnitOfWork
from tm_tasks.adapters.user_cache import UserCache
from tm_tasks.config import TasksSettings
from tm_tasks.entrypoints.comments_api import SERVICE_NAMES as COMMENTS_SERVICE_NAMES
from tm_tasks.entrypoints.comments_api import CommentsServicer
from tm_tasks.entrypoints.grpc_api import SERVICE_NAMES, TasksServicer
from tm_tasks.entrypoints.reminders import DueSoonScheduler
from tm_tasks.entrypoints.sharing_api import SERVICE_NAMES as SHARING_SERVICE_NAMES
from tm_tasks.entrypoints.sharing_api import SharingServicer, TaskAccessServicer
from tm_tasks.service.tasks import TasksDeps


def build(settings: TasksSettings) -> ServiceDefinition:
    db = Database(settings)
    redis = redis_client.connect(settings)
    deps = TasksDeps(
        uow=UnitsOfWork(SqlTasksUnitOfWork, db),
        store=TaskStore(db),
        cache=UserCache(redis),
        tokens=page_tokens(settings),
    )

    users = UserDirectory(settings.auth_address)

    def register(server: grpc.aio.Server) -> None:
        tasks_pb2_grpc.add_TasksServiceServicer_to_server(TasksServicer(deps), server)
        tasks_pb2_grpc.add_SharingServiceServicer_to_server(SharingServicer(deps, users), server)
        tasks_pb2_grpc.add_TaskAccessServiceServicer_to_server(TaskAccessServicer(deps), server)
        tasks_pb2_grpc.add_CommentsServiceServicer_to_server(CommentsServicer(deps), server)

    return service_definition(
        settings,
        db,
        redis,
        register,
        [*SERVICE_NAMES, *SHARING_SERVICE_NAMES, *COMMENTS_SERVICE_NAMES],
        background=[*relay_loops(settings, db, redis), due_soon_scheduler(settings, db).run],
        produces_events=True,
    )


def due_soon_scheduler(settings: TasksSettings, db: Database) -> DueSoonScheduler:
    return DueSoonScheduler(
        UnitsOfWork(SqlRemindersUnitOfWork, db),
        window=timedelta(seconds=settings.due_soon_window_seconds),
        scan_seconds=settings.due_soon_scan_seconds,
    )
