"""Tracing: the sampler, the trace context events carry, spans in their requests' traces, the ids
in log lines, the export to a file, and the local stack's OTLP sink for Envoy's spans."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from taskmanager.events.v1.events_pb2 import EventEnvelope, TaskDeleted
from tm_common import tracing
from tm_common.events import envelope
from tm_common.logs import JsonFormatter
from tm_devstack import otlp_sink

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def provider() -> TracerProvider:
    """The process's provider, installed once (the API allows one per process)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    installed = TracerProvider(sampler=tracing.sampler(1.0))
    installed.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(installed)
    return installed


@pytest.fixture
def finished(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def _sampled(ratio: float, kind: SpanKind, parent_sampled: bool | None = None) -> bool:
    sampler = tracing.sampler(ratio)
    parent = None
    if parent_sampled is not None:
        flags = trace.TraceFlags(trace.TraceFlags.SAMPLED if parent_sampled else 0)
        span_context = trace.SpanContext(1, 2, is_remote=True, trace_flags=flags)
        parent = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    return sampler.should_sample(parent, 7, "span", kind).decision.is_sampled()


def test_a_trace_that_starts_here_is_kept_at_the_ratio() -> None:
    assert _sampled(1.0, SpanKind.CONSUMER)
    assert not _sampled(0.0, SpanKind.CONSUMER)
    assert _sampled(1.0, SpanKind.INTERNAL)
    assert not _sampled(0.0, SpanKind.INTERNAL)


def test_an_rpc_span_that_starts_a_trace_is_kept_as_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    # `_traced` draws the RPCs that start a trace; the sampler keeps the spans of those it drew.
    assert _sampled(0.0, SpanKind.SERVER)
    method = "/taskmanager.tasks.v1.TasksService/GetTask"
    draws = iter([0.05, 0.5, 0.05])
    monkeypatch.setattr(tracing, "_draw", lambda: next(draws))
    monkeypatch.setattr(tracing, "_root_ratio", 0.1)
    assert tracing._traced(_Details(method))
    assert not tracing._traced(_Details(method))
    assert tracing._traced(_Details(method, (("traceparent", "garbage"),)))  # as if none was sent


def test_a_client_call_outside_any_trace_is_never_kept() -> None:
    # A background loop's poll query would otherwise be a trace of its own, every second.
    assert not _sampled(1.0, SpanKind.CLIENT)


def test_a_span_with_a_parent_follows_the_parents_decision() -> None:
    assert _sampled(0.0, SpanKind.SERVER, parent_sampled=True)
    assert _sampled(0.0, SpanKind.CLIENT, parent_sampled=True)
    assert not _sampled(1.0, SpanKind.SERVER, parent_sampled=False)


def _event() -> EventEnvelope:
    return envelope(TaskDeleted(), "tasks", 1, actor_username="a")


def test_an_event_carries_the_trace_of_the_request_that_caused_it(provider: TracerProvider) -> None:
    with trace.get_tracer("test").start_as_current_span("request") as request:
        event = _event()
    span_context = tracing.span_context_of(event.trace_context)
    assert span_context.trace_id == request.get_span_context().trace_id
    assert span_context.span_id == request.get_span_context().span_id
    assert span_context.trace_flags.sampled


def test_an_event_outside_any_trace_carries_none() -> None:
    assert dict(_event().trace_context) == {}
    assert not tracing.span_context_of({}).is_valid


def test_work_for_several_requests_shows_in_each_ones_trace(finished: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("first") as first:
        one = _event()
    with tracer.start_as_current_span("second") as second:
        two = _event()
    # The second was not traced, the third's request not sampled: no span of theirs.
    carriers = [one.trace_context, {}, {"traceparent": UNSAMPLED}, two.trace_context]
    asked: list[int] = []

    def attributes_of(i: int) -> dict[str, int]:
        asked.append(i)
        return {"n": i + 1}

    with tracing.spans_in_their_traces("publish", carriers, SpanKind.PRODUCER, attributes_of):
        pass
    assert asked == [0, 3]  # only for the spans made
    spans = [span for span in finished.get_finished_spans() if span.name == "publish"]
    assert [(span.parent.span_id if span.parent else None) for span in spans] == [
        first.get_span_context().span_id,
        second.get_span_context().span_id,
    ]
    assert [span.attributes["n"] for span in spans if span.attributes] == [1, 4]
    assert all(span.kind == SpanKind.PRODUCER for span in spans)


def test_the_spans_fail_with_the_work(finished: InMemorySpanExporter) -> None:
    with trace.get_tracer("test").start_as_current_span("request"):
        event = _event()
    publishing = tracing.spans_in_their_traces(
        "publish", [event.trace_context], SpanKind.PRODUCER, _no_attributes
    )
    with pytest.raises(ConnectionError), publishing:
        raise ConnectionError("redis is down")
    (span,) = [span for span in finished.get_finished_spans() if span.name == "publish"]
    assert span.status.status_code == StatusCode.ERROR
    assert span.events[0].name == "exception"


def _log_line(formatter: JsonFormatter) -> dict[str, object]:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    return json.loads(formatter.format(record))


def test_log_lines_name_the_current_trace_and_span(provider: TracerProvider) -> None:
    formatter = JsonFormatter("tasks")
    assert "trace_id" not in _log_line(formatter)
    with trace.get_tracer("test").start_as_current_span("request") as span:
        line = _log_line(formatter)
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")


_TRACED_PROCESS = """
import sys
from opentelemetry import trace
from tm_common.config import ServiceSettings
from tm_common.tracing import configure_tracing, server_interceptors
tracing = configure_tracing(ServiceSettings(service_name="probe", trace_sample_ratio=1.0))
print(len(server_interceptors()))
if tracing is not None:
    with trace.get_tracer("probe").start_as_current_span("work"):
        pass
    tracing.shutdown()
"""


def _run_traced_process(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _TRACED_PROCESS],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_without_a_collector_spans_go_to_the_traces_file(tmp_path: Path) -> None:
    spans_file = tmp_path / "logs" / "probe.spans.jsonl"
    assert _run_traced_process({"TRACES_FILE": str(spans_file), "OTEL_EXPORTER_OTLP_ENDPOINT": ""}) == "1"
    (line,) = spans_file.read_text().splitlines()
    resource = json.loads(line)["resourceSpans"][0]
    assert {"key": "service.name", "value": {"stringValue": "probe"}} in resource["resource"]["attributes"]
    (span,) = resource["scopeSpans"][0]["spans"]
    assert span["name"] == "work" and len(span["traceId"]) == 32


def test_with_a_collector_spans_go_over_otlp(tmp_path: Path) -> None:
    sink = otlp_sink.serve(0, tmp_path / "received")
    try:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.port}",
            "TRACES_FILE": str(tmp_path / "x"),
        }
        assert _run_traced_process(env) == "1"
    finally:
        sink.stop()
    (line,) = (tmp_path / "received" / "probe.spans.jsonl").read_text().splitlines()
    (span,) = json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert span["name"] == "work"
    assert not (tmp_path / "x").exists()


def test_tracing_can_be_turned_off(tmp_path: Path) -> None:
    spans_file = tmp_path / "probe.spans.jsonl"
    assert _run_traced_process({"OTEL_SDK_DISABLED": "true", "TRACES_FILE": str(spans_file)}) == "0"
    assert not spans_file.exists()


def _export_to_sink(port: int, service: str) -> tuple[trace.Span, trace.Span]:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True))
    )
    tracer = provider.get_tracer(service)
    with (
        tracer.start_as_current_span("ingress") as parent,
        tracer.start_as_current_span("child") as child,
    ):
        pass
    provider.shutdown()
    return parent, child


def test_the_sink_writes_each_services_spans_to_its_file_as_the_file_exporter_does(tmp_path: Path) -> None:
    sink = otlp_sink.serve(0, tmp_path)
    try:
        parent, child = _export_to_sink(sink.port, "gateway")
        _export_to_sink(sink.port, "tasks")
        _export_to_sink(sink.port, "../etc/passwd")  # not a file name: kept, but not there
    finally:
        sink.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gateway.spans.jsonl",
        "tasks.spans.jsonl",
        "unknown.spans.jsonl",
    ]
    assert '"tasks"' not in (tmp_path / "gateway.spans.jsonl").read_text()
    spans = [
        span
        for line in (tmp_path / "gateway.spans.jsonl").read_text().splitlines()
        for span in json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    ]
    by_name = {span["name"]: span for span in spans}
    assert by_name["child"]["traceId"] == format(child.get_span_context().trace_id, "032x")
    assert by_name["child"]["spanId"] == format(child.get_span_context().span_id, "016x")
    assert by_name["child"]["parentSpanId"] == format(parent.get_span_context().span_id, "016x")
    assert by_name["child"]["kind"] == 1  # integers (INTERNAL), as the file exporter writes them


def test_the_sink_can_keep_nothing(tmp_path: Path) -> None:
    sink = otlp_sink.serve(0, None)
    try:
        _export_to_sink(sink.port, "gateway")  # accepted: the exporter reports no failure
    finally:
        sink.stop()
    assert list(tmp_path.iterdir()) == []


def test_a_consumer_applying_one_requests_events_continues_its_trace(finished: InMemorySpanExporter) -> None:
    with trace.get_tracer("test").start_as_current_span("request") as request:
        events = [_event(), _event()]
    carriers = [e.trace_context for e in events]
    consuming = tracing.consuming("activity process", carriers, [{"n": 1}, {"n": 2}].__getitem__)
    with consuming, trace.get_tracer("test").start_as_current_span("INSERT") as write:
        pass
    (consumer,) = [span for span in finished.get_finished_spans() if span.name == "activity process"]
    assert consumer.kind == SpanKind.CONSUMER
    assert consumer.parent is not None and consumer.parent.span_id == request.get_span_context().span_id
    assert write.parent is not None and write.parent.span_id == consumer.context.span_id
    assert consumer.attributes is not None and consumer.attributes["messaging.batch.message_count"] == 2


def test_a_consumer_applying_unsampled_events_makes_no_span(finished: InMemorySpanExporter) -> None:
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    other = "00-" + "ef" * 16 + "-" + "cd" * 8 + "-00"
    with tracing.consuming(
        "activity process", [{"traceparent": UNSAMPLED}, {"traceparent": other}], _no_attributes
    ):
        assert tracing.current_ids() == ("ab" * 16, "cd" * 8)  # its log lines name the first trace
        assert not is_instrumentation_enabled()
    assert tracing.current_ids() is None and is_instrumentation_enabled()
    assert not [span for span in finished.get_finished_spans() if span.name == "activity process"]
    # One sampled event among them: the batch is traced as before.
    with trace.get_tracer("test").start_as_current_span("request"):
        sampled = _event()
    with tracing.consuming(
        "activity process", [{"traceparent": UNSAMPLED}, sampled.trace_context], _no_attributes
    ):
        assert trace.get_current_span().is_recording()
    assert [span for span in finished.get_finished_spans() if span.name == "activity process"]


def test_a_consumer_applying_several_requests_events_links_them(finished: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("first") as first:
        one = _event()
    with tracer.start_as_current_span("second") as second:
        two = _event()
    with tracing.consuming(
        "activity process", [one.trace_context, two.trace_context], _no_attributes
    ) as batch:
        pass
    spans = [span for span in finished.get_finished_spans() if span.name == "activity process"]
    (batch_span,) = [span for span in spans if span.context.span_id == batch.get_span_context().span_id]
    assert batch_span.parent is None  # a trace of its own ...
    linked = {link.context.span_id for link in batch_span.links}
    assert linked == {
        first.get_span_context().span_id,
        second.get_span_context().span_id,
    }  # ... linked to both
    per_request = [span for span in spans if span is not batch_span]
    assert {span.parent.span_id for span in per_request if span.parent} == linked  # and in each one's trace
    assert all(span.links[0].context.span_id == batch_span.context.span_id for span in per_request)


class _Details:
    def __init__(self, method: str, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.method = method
        self.invocation_metadata = metadata


def _no_attributes(i: int) -> dict[str, str]:
    return {}


UNSAMPLED = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-00"
SAMPLED = UNSAMPLED[:-2] + "01"


def test_the_rpc_span_is_made_unless_the_caller_did_not_sample_or_it_is_a_probe() -> None:
    method = "/taskmanager.tasks.v1.TasksService/GetTask"
    assert tracing._traced(_Details(method))  # a trace that starts here, at a ratio of 1
    assert tracing._traced(_Details(method, (("traceparent", SAMPLED),)))
    assert not tracing._traced(_Details(method, (("traceparent", UNSAMPLED),)))
    assert not tracing._traced(_Details("/grpc.health.v1.Health/Check"))


def test_an_unsampled_request_joins_its_trace_without_spans_or_instrumentation(
    provider: TracerProvider,
) -> None:
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    with tracing.in_request_trace({"traceparent": UNSAMPLED}):
        assert tracing.current_ids() == ("ab" * 16, "cd" * 8)  # log lines name the caller's trace
        assert not is_instrumentation_enabled()  # no SQL or Redis spans nobody keeps
        carrier: dict[str, str] = {}
        tracing.inject(carrier)
        assert carrier["traceparent"] == UNSAMPLED  # events and calls carry the trace on
    assert tracing.current_ids() is None and is_instrumentation_enabled()


def test_an_unsampled_request_without_a_caller_trace_gets_a_new_one(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    for metadata in ({}, {"traceparent": "garbage"}):
        with tracing.in_request_trace(metadata):
            ids = tracing.current_ids()
            assert ids is not None and ids[0] != "ab" * 16  # its log lines name a trace
            assert not trace.get_current_span().is_recording()
            assert not is_instrumentation_enabled()
            carrier: dict[str, str] = {}
            tracing.inject(carrier)
            assert carrier["traceparent"] == f"00-{ids[0]}-{ids[1]}-00"  # carried on, unsampled
        assert tracing.current_ids() is None


def test_a_sampled_request_keeps_its_instrumentation(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    with trace.get_tracer("test").start_as_current_span("rpc"), tracing.in_request_trace({}):
        assert is_instrumentation_enabled()


def test_a_call_to_another_service_carries_an_unsampled_trace_on(provider: TracerProvider) -> None:
    from tm_common.clients import propagated_metadata

    with tracing.in_request_trace({"traceparent": UNSAMPLED}):
        metadata = propagated_metadata(())
    assert metadata["traceparent"] == UNSAMPLED
    assert "traceparent" not in propagated_metadata(())  # outside any trace: nothing to carry


async def test_a_background_loop_makes_no_spans_but_for_sampled_work(provider: TracerProvider) -> None:
    """A loop's own polls (outside any request) run with the instrumentations off; the work it
    does for a sampled event runs with them on, for an unsampled one off."""
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    from tm_common.loops import Backoff, run_forever

    with trace.get_tracer("test").start_as_current_span("request"):
        sampled = _event().trace_context
    seen: list[tuple[str, bool]] = []

    async def serve() -> None:
        seen.append(("poll", is_instrumentation_enabled()))
        for carrier in ([sampled], [{"traceparent": UNSAMPLED}]):
            with tracing.consuming("activity process", carrier, _no_attributes):
                seen.append(("consume", is_instrumentation_enabled()))
        with tracing.in_trace_of("notify send", sampled, SpanKind.CONSUMER, {}):
            seen.append(("send", is_instrumentation_enabled()))
        with tracing.in_trace_of("notify send", {"traceparent": UNSAMPLED}, SpanKind.CONSUMER, {}) as span:
            seen.append(("send", is_instrumentation_enabled()))
            assert not span.is_recording() and tracing.current_ids() == ("ab" * 16, "cd" * 8)
        seen.append(("poll", is_instrumentation_enabled()))
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_forever("test loop", serve, Backoff())
    assert seen == [
        ("poll", False),
        ("consume", True),
        ("consume", False),
        ("send", True),
        ("send", False),
        ("poll", False),
    ]
    assert is_instrumentation_enabled()  # outside the loop, as it was


def test_in_trace_of_makes_a_span_in_a_sampled_requests_trace(finished: InMemorySpanExporter) -> None:
    with trace.get_tracer("test").start_as_current_span("request") as request:
        carrier = _event().trace_context
    with tracing.in_trace_of("notify send", carrier, SpanKind.CONSUMER, {"tm.email.kind": "x"}):
        pass
    (send,) = [span for span in finished.get_finished_spans() if span.name == "notify send"]
    assert send.parent is not None and send.parent.span_id == request.get_span_context().span_id
    assert send.kind == SpanKind.CONSUMER and send.attributes == {"tm.email.kind": "x"}
