"""Settings of the notify service (environment variables; see README)."""

from __future__ import annotations

from pydantic import Field

from tm_common.config import ServiceSettings


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    db_schema: str = "notify"
    grpc_port: int = 50055
    # Events from these streams feed it.
    consume_streams: str = "events:tasks,events:auth"
    consumer_group: str = "notify"

    # NOTIFY_CODE_SECRET: the HMAC key verification codes are stored under. Unset: a random key
    # for this process only (codes sent before a restart then no longer verify).
    notify_code_secret: str = ""
    verify_code_ttl_seconds: int = Field(default=900, ge=60)
    verify_code_max_attempts: int = Field(default=5, ge=1)  # wrong codes before a code is dead
    # Per user, in Redis: verify calls and subscribe calls (each subscribe sends an email).
    verify_limit_per_user: int = Field(default=10, ge=1)
    verify_limit_window_seconds: int = Field(default=900, ge=1)
    subscribe_limit_per_user: int = Field(default=5, ge=1)
    subscribe_limit_window_seconds: int = Field(default=3600, ge=1)

    # Amazon SNS: set the topic to send through it; else emails go to the local delivery log.
    # Credentials come from the usual AWS chain (AWS_ACCESS_KEY_ID..., a role). The region
    # defaults to the topic ARN's.
    sns_topic_arn: str = ""
    sns_region: str = ""
    sns_endpoint_url: str = ""  # another endpoint (a VPC endpoint, a local emulator)
    sns_timeout_seconds: float = Field(default=10.0, gt=0)

    # The sender loop: tries per email, backoff between them, the lease of a claimed email,
    # how many are claimed and sent at once, and the poll interval (inserts also wake it).
    send_max_attempts: int = Field(default=8, ge=1)
    send_backoff_seconds: float = Field(default=2.0, gt=0)
    send_backoff_max_seconds: float = Field(default=600.0, gt=0)
    send_defer_seconds: float = Field(default=30.0, gt=0)
    send_lease_seconds: float = Field(default=60.0, gt=0)
    send_batch_size: int = Field(default=50, ge=1)
    send_concurrency: int = Field(default=8, ge=1)
    send_poll_seconds: float = Field(default=1.0, gt=0)
