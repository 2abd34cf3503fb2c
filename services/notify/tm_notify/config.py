"""Settings of the notify service (environment variables; see README)."""

from __future__ import annotations

from tm_common.config import ServiceSettings


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    db_schema: str = "notify"
    grpc_port: int = 50055
    # Events from these streams feed it.
    consume_streams: str = "events:tasks,events:auth"
    consumer_group: str = "notify"
