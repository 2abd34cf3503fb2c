"""Which calls gRPC may retry on UNAVAILABLE, as a service config for the channel.

Only reads are retried: a write that reached the service before the connection failed could
otherwise be applied twice (a second task, a second share). The list is derived from the
contracts' method names, so a new Get*/List* method is retried without editing this file.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from taskmanager.activity.v1 import activity_pb2
from taskmanager.auth.v1 import auth_pb2
from taskmanager.files.v1 import files_pb2
from taskmanager.notify.v1 import notify_pb2
from taskmanager.ops.v1 import ops_pb2
from taskmanager.tasks.v1 import tasks_pb2

PUBLIC_SERVICES: tuple[ServiceDescriptor, ...] = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
    tasks_pb2.DESCRIPTOR.services_by_name["TasksService"],
    tasks_pb2.DESCRIPTOR.services_by_name["SharingService"],
    tasks_pb2.DESCRIPTOR.services_by_name["CommentsService"],
    files_pb2.DESCRIPTOR.services_by_name["FilesService"],
    activity_pb2.DESCRIPTOR.services_by_name["ActivityService"],
    notify_pb2.DESCRIPTOR.services_by_name["NotifyService"],
    ops_pb2.DESCRIPTOR.services_by_name["OpsService"],
)
# Reads by name. Create*Url (a presigned URL) is a write by its name and is not retried.
READ_PREFIXES = ("Get", "List", "BatchGet", "Download")

IDEMPOTENT_METHODS: tuple[str, ...] = tuple(
    f"/{service.full_name}/{method.name}"
    for service in PUBLIC_SERVICES
    for method in service.methods
    if method.name.startswith(READ_PREFIXES) and not method.client_streaming
)

RETRY_POLICY: dict[str, Any] = {
    "maxAttempts": 5,
    "initialBackoff": "0.1s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def service_config(policy: dict[str, Any] | None = None) -> str:
    """The `grpc.service_config` channel option: `policy` (RETRY_POLICY by default) on every
    idempotent method of the public services, no retries elsewhere."""
    names = []
    for path in IDEMPOTENT_METHODS:
        service, method = path.strip("/").split("/")
        names.append({"service": service, "method": method})
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": policy or RETRY_POLICY}]})
