"""S3 calls are spans of the trace they run in (the botocore instrumentation that
tm_common.tracing installs), against a local S3 (moto) over real HTTP.

In a process of its own: the instrumentations patch botocore for the whole process, as they do in
a service, which this test process must not be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.files import MotoServer

_UPLOAD = """
import asyncio, io, sys
from opentelemetry import trace
from tm_common.config import ServiceSettings
from tm_common.tracing import configure_tracing
from tm_files.adapters.blobs import S3BlobStore, S3Config

tracing = configure_tracing(ServiceSettings(service_name="files", trace_sample_ratio=1.0))
store = S3BlobStore(S3Config(bucket=sys.argv[1], region="us-east-1", endpoint_url=sys.argv[2]))

async def main():
    with trace.get_tracer("test").start_as_current_span("upload"):
        await store.put("files/0123456789abcdef0123456789abcdef", io.BytesIO(b"hello"), "text/plain")

asyncio.run(main())
tracing.shutdown()
"""


def test_an_s3_put_is_a_span_of_the_request_that_made_it(moto: MotoServer, tmp_path: Path) -> None:
    spans_file = tmp_path / "files.spans.jsonl"
    env = {**os.environ, "TRACES_FILE": str(spans_file), "OTEL_EXPORTER_OTLP_ENDPOINT": ""}
    result = subprocess.run(
        [sys.executable, "-c", _UPLOAD, moto.new_bucket(), moto.endpoint_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    spans = [
        span
        for line in spans_file.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    (upload,) = [span for span in spans if span["name"] == "upload"]
    s3 = [span for span in spans if span["name"] == "S3.PutObject"]
    assert s3, [span["name"] for span in spans]
    assert s3[0]["traceId"] == upload["traceId"] and s3[0]["parentSpanId"] == upload["spanId"]
    assert s3[0]["kind"] == 3  # CLIENT
