"""Wiring: build the files service's dependencies and its server definition from settings."""

from __future__ import annotations

from datetime import timedelta

import grpc

from taskmanager.files.v1 import files_pb2_grpc
from tm_common import redis_client
from tm_common.consumer import consumer_loops
from tm_common.db import Database
from tm_common.paging import page_tokens
from tm_common.relay import relay_loops
from tm_common.server import ServiceDefinition
from tm_common.uow import UnitsOfWork
from tm_common.wiring import service_definition
from tm_files.adapters.blobs import LocalBlobStore, S3BlobStore, S3Config
from tm_files.adapters.task_access import TaskAccessClient
from tm_files.adapters.unit_of_work import SqlFilesUnitOfWork
from tm_files.config import FilesSettings
from tm_files.domain.files import Limits
from tm_files.entrypoints.consumer import OnTaskDeleted
from tm_files.entrypoints.grpc_api import SERVICE_NAMES, FilesServicer
from tm_files.service import cleanup
from tm_files.service.files import FilesDeps
from tm_files.service.unit_of_work import BlobStore


def blob_store(settings: FilesSettings) -> tuple[BlobStore, S3BlobStore | None]:
    if settings.blob_store == "s3":
        s3 = S3BlobStore(
            S3Config(
                bucket=settings.s3_bucket,
                region=settings.s3_region,
                endpoint_url=settings.s3_endpoint_url or None,
                server_side_encryption=settings.s3_server_side_encryption or None,
                kms_key_id=settings.s3_kms_key_id or None,
            )
        )
        return s3, s3
    if settings.blob_store != "local":
        raise ValueError(f"BLOB_STORE must be local or s3, not {settings.blob_store!r}")
    return LocalBlobStore(settings.data_dir / "blobs"), None


def build_deps(settings: FilesSettings, db: Database) -> FilesDeps:
    blobs, s3 = blob_store(settings)
    return FilesDeps(
        uow=UnitsOfWork(SqlFilesUnitOfWork, db),
        blobs=blobs,
        access=TaskAccessClient(settings.tasks_address),
        limits=Limits(settings.max_file_bytes, settings.extensions),
        presign=timedelta(seconds=settings.presigned_url_seconds),
        tokens=page_tokens(settings),
        s3=s3,
    )


def build(settings: FilesSettings) -> ServiceDefinition:
    db = Database(settings)
    redis = redis_client.connect(settings)
    deps = build_deps(settings, db)

    def register(server: grpc.aio.Server) -> None:
        files_pb2_grpc.add_FilesServiceServicer_to_server(FilesServicer(deps), server)

    async def keep_consistent() -> None:
        await cleanup.cleanup_loop(
            deps, timedelta(seconds=settings.orphan_blob_seconds), settings.sweep_every_seconds
        )

    return service_definition(
        settings,
        db,
        redis,
        register,
        SERVICE_NAMES,
        background=[
            *relay_loops(settings, db, redis),
            *consumer_loops(
                settings,
                db,
                redis,
                OnTaskDeleted(deps.uow),
                frozenset({"task.deleted"}),
            ),
            keep_consistent,
        ],
        produces_events=True,
    )
