"""The local stack's stand-in for an OpenTelemetry collector: every process's spans, as files.

Envoy and the services export OTLP/gRPC here, as they would to a collector in a deployment
(README, Observability). Each export is appended as one line of OTLP JSON (hex ids, integer enums:
the encoding of the SDK's OTLP JSON file exporter) to DIR/<service.name>.spans.jsonl, so that one
request's spans, gateway included, are found in DATA_DIR/logs/*.spans.jsonl by trace id.
`--discard` keeps nothing: the bench's collector, which runs elsewhere in a deployment.

    python -m tm_devstack.otlp_sink PORT DIR
    python -m tm_devstack.otlp_sink PORT --discard
"""

from __future__ import annotations

import base64
import json
import re
import signal
import sys
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def otlp_json(request: trace_service_pb2.ExportTraceServiceRequest) -> dict[str, Any]:
    """An export request in OTLP JSON: proto3 JSON, except that ids are hex, not base64."""
    document = MessageToDict(request, use_integers_for_enums=True)
    for resource in document.get("resourceSpans", ()):
        for scope in resource.get("scopeSpans", ()):
            for span in scope.get("spans", ()):
                _hex_ids(span)
                for link in span.get("links", ()):
                    _hex_ids(link)
    return document


def _hex_ids(item: dict[str, Any]) -> None:
    for name in _ID_FIELDS:
        if name in item:
            item[name] = base64.b64decode(item[name]).hex()


def service_name(resource: Resource) -> str:
    """The resource's service.name, if it can name a file; else "unknown"."""
    for attribute in resource.attributes:
        if attribute.key == "service.name":
            name = attribute.value.string_value
            if _FILE_NAME.fullmatch(name) and not name.startswith("."):
                return name
    return "unknown"


class FileSink(trace_service_pb2_grpc.TraceServiceServicer):
    """Appends each export to DIR/<service.name>.spans.jsonl; keeps nothing when directory is None."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._files: dict[str, TextIO] = {}
        self._lock = threading.Lock()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        if self._directory is not None:
            by_service: dict[str, trace_service_pb2.ExportTraceServiceRequest] = {}
            for resource_spans in request.resource_spans:
                name = service_name(resource_spans.resource)
                by_service.setdefault(name, trace_service_pb2.ExportTraceServiceRequest())
                by_service[name].resource_spans.append(resource_spans)
            for name, export in by_service.items():
                line = json.dumps(otlp_json(export), separators=(",", ":"))
                with self._lock:
                    file = self._file(name)
                    file.write(line + "\n")
                    file.flush()
        return trace_service_pb2.ExportTraceServiceResponse()

    def _file(self, name: str) -> TextIO:
        if name not in self._files:
            assert self._directory is not None
            self._files[name] = (self._directory / f"{name}.spans.jsonl").open("a", encoding="utf-8")
        return self._files[name]

    def close(self) -> None:
        with self._lock:
            for file in self._files.values():
                file.close()
            self._files.clear()


@dataclass
class RunningSink:
    server: grpc.Server
    sink: FileSink
    port: int

    def stop(self) -> None:
        self.server.stop(grace=2).wait()
        self.sink.close()


def serve(port: int, directory: Path | None) -> RunningSink:
    """Listen on 127.0.0.1:port (0: any free port) and append what arrives to files in directory
    (None: keep nothing)."""
    sink = FileSink(directory)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if bound == 0:
        raise RuntimeError(f"cannot bind 127.0.0.1:{port}")
    server.start()
    return RunningSink(server, sink, bound)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    running = serve(int(sys.argv[1]), None if sys.argv[2] == "--discard" else Path(sys.argv[2]))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    running.stop()


if __name__ == "__main__":
    main()
