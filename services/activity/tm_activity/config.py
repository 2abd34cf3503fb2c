"""Settings of the activity service (environment variables; see README)."""

from __future__ import annotations

from pydantic import Field

from tm_common.config import ServiceSettings


class ActivitySettings(ServiceSettings):
    service_name: str = "activity"
    db_schema: str = "activity"
    grpc_port: int = 50054
    # Events from these streams feed it.
    consume_streams: str = "events:tasks,events:files"
    consumer_group: str = "activity"
    # Read-your-writes: how long a read may wait for the caller's own latest writes to be in the
    # log before it answers with what is there, marked possibly stale.
    read_your_writes_seconds: float = Field(default=2.0, ge=0)
