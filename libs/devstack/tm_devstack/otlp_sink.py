"""The local stack's stand-in for an OpenTelemetry collector: Envoy's spans, as a file.

The services write their spans to DATA_DIR/logs/<service>.spans.jsonl themselves (the SDK's OTLP
JSON file exporter), but Envoy can only export OTLP to a collector. This receives Envoy's OTLP/gRPC
exports and appends each as one line of OTLP JSON (the same encoding: hex ids, integer enums), so
that one request's spans, gateway included, are found in DATA_DIR/logs/*.spans.jsonl by trace id.
A deployment points Envoy at a real collector instead (README, Observability).

    python -m tm_devstack.otlp_sink PORT FILE
"""

from __future__ import annotations

import base64
import json
import signal
import sys
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


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


class FileSink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        line = json.dumps(otlp_json(request), separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
        return trace_service_pb2.ExportTraceServiceResponse()

    def close(self) -> None:
        self._file.close()


@dataclass
class RunningSink:
    server: grpc.Server
    sink: FileSink
    port: int

    def stop(self) -> None:
        self.server.stop(grace=2).wait()
        self.sink.close()


def serve(port: int, path: Path) -> RunningSink:
    """Listen on 127.0.0.1:port (0: any free port) and append what arrives to path."""
    sink = FileSink(path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if bound == 0:
        raise RuntimeError(f"cannot bind 127.0.0.1:{port}")
    server.start()
    return RunningSink(server, sink, bound)


def main() -> None:
    running = serve(int(sys.argv[1]), Path(sys.argv[2]))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    running.stop()


if __name__ == "__main__":
    main()
