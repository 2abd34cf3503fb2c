"""Settings of the files service (environment variables; see README)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from tm_common.config import ServiceSettings

DEFAULT_EXTENSIONS = ".jpg .jpeg .png .gif .pdf .txt .doc .docx"


class FilesSettings(ServiceSettings):
    service_name: str = "files"
    db_schema: str = "files"
    grpc_port: int = 50053
    events_stream: str = "events:files"
    # Task deletions remove the task's files.
    consume_streams: str = "events:tasks"
    consumer_group: str = "files"
    # Where the tasks service answers "may user U do X on task T".
    tasks_address: str = "127.0.0.1:50052"
    data_dir: Path = Path("data")
    # "local": blobs under DATA_DIR/blobs; "s3": in S3_BUCKET.
    blob_store: str = "local"
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_endpoint_url: str | None = None  # an S3-compatible endpoint; unset for AWS
    s3_server_side_encryption: str | None = "AES256"  # or "aws:kms" (with S3_KMS_KEY_ID), or empty
    s3_kms_key_id: str | None = None
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    allowed_extensions: str = DEFAULT_EXTENSIONS
    presigned_url_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    # A blob with no metadata row (an upload that crashed before its commit) older than this is
    # removed by the sweeper; younger ones may be uploads still in progress.
    orphan_blob_seconds: int = Field(default=3600, ge=1)
    sweep_every_seconds: float = Field(default=300.0, gt=0)

    @property
    def extensions(self) -> frozenset[str]:
        return frozenset(
            ext if ext.startswith(".") else f".{ext}"
            for ext in (part.strip().lower() for part in self.allowed_extensions.replace(",", " ").split())
            if ext
        )
