"""The files service's own metrics, in the process-wide registry that tm_common.metrics serves."""

from __future__ import annotations

from prometheus_client import Counter

FILE_BYTES = Counter(
    "tm_files_bytes_total",
    "File content through this service: in, the bytes of uploads stored; out, the bytes of downloads "
    "sent. Presigned transfers go to S3 directly and are not counted.",
    ("direction",),
)
BYTES_IN = FILE_BYTES.labels("in")
BYTES_OUT = FILE_BYTES.labels("out")
