"""Settings of the tasks service (environment variables; see README)."""

from __future__ import annotations

from tm_common.config import ServiceSettings


class TasksSettings(ServiceSettings):
    service_name: str = "tasks"
    db_schema: str = "tasks"
    grpc_port: int = 50052
    events_stream: str = "events:tasks"
