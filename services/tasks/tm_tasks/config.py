"""Settings of the tasks service (environment variables; see README)."""

from __future__ import annotations

from pydantic import Field

from tm_common.config import ServiceSettings


class TasksSettings(ServiceSettings):
    service_name: str = "tasks"
    db_schema: str = "tasks"
    grpc_port: int = 50052
    events_stream: str = "events:tasks"
    # Due-soon reminders (README, Events): a task's reminder goes out once its due date begins
    # (00:00 UTC) within this many seconds, until the date ends; the scheduler looks this often.
    due_soon_window_seconds: int = Field(default=86400, ge=0)
    due_soon_scan_seconds: float = Field(default=60.0, gt=0)
