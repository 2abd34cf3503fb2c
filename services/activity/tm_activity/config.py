"""Settings of the activity service (environment variables; see README)."""

from __future__ import annotations

from tm_common.config import ServiceSettings


class ActivitySettings(ServiceSettings):
    service_name: str = "activity"
    db_schema: str = "activity"
    grpc_port: int = 50054
    # Events from these streams feed it.
    consume_streams: str = "events:tasks,events:files"
    consumer_group: str = "activity"
