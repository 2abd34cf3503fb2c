"""Reading the spans the stack exported (DATA_DIR/logs/*.spans.jsonl, OTLP JSON lines)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP's SpanKind numbers


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # (trace_id, span_id)


def _value(value: dict[str, Any]) -> Any:
    if "arrayValue" in value:
        return [_value(item) for item in value["arrayValue"].get("values", ())]
    kind, found = next(iter(value.items()), ("", None))
    return int(found) if kind == "intValue" else found


def _attributes(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items}


def read_spans(files: Iterable[Path]) -> list[Span]:
    spans = []
    for path in files:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            for resource in json.loads(line).get("resourceSpans", ()):
                resource_attributes = _attributes(resource.get("resource", {}).get("attributes", ()))
                service = resource_attributes.get("service.name", "")
                for scope in resource.get("scopeSpans", ()):
                    for span in scope.get("spans", ()):
                        spans.append(
                            Span(
                                service=service,
                                name=span["name"],
                                trace_id=span["traceId"],
                                span_id=span["spanId"],
                                parent_id=span.get("parentSpanId", ""),
                                kind=int(span.get("kind", 0)),
                                attributes=_attributes(span.get("attributes", ())),
                                links=tuple((ln["traceId"], ln["spanId"]) for ln in span.get("links", ())),
                            )
                        )
    return spans


def spans_of_trace(stack: Any, trace_id: str) -> list[Span]:
    return [span for span in read_spans(stack.spans_files()) if span.trace_id == trace_id]


def new_traceparent(sampled: bool = True) -> tuple[str, str]:
    """A W3C traceparent as a client would start a trace with, and its trace id."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}", trace_id
