"""OpenTelemetry tracing of a service process, with the OpenTelemetry SDK and instrumentations.

* A span per RPC, child of the W3C `traceparent` that Envoy (or the caller) sent: the gRPC
  instrumentation's server interceptor. Calls to other services carry the trace on (its client
  interceptors, on every channel of tm_common.clients).
* SQL (psycopg, under SQLAlchemy too), Redis and AWS calls (botocore: S3, SNS, SES) are spans of
  the trace they run in, threads included (boto3's transfer threads).
* Events carry the trace context of the request that caused them (EventEnvelope.trace_context,
  written by tm_common.events): the relay's and the consumers' spans join that trace.
* Sampling is parent-based: a trace that starts here is kept with probability TRACE_SAMPLE_RATIO,
  except one that would start at a client call (a background loop's poll of Postgres or Redis,
  outside any request or event): those are never kept, or they would bury the requests. Background
  loops run with the instrumentations suppressed (`background`), so such calls make no span at
  all; the work they do for a sampled request or event is instrumented again (`consuming`). An RPC
  that starts a trace is drawn before the instrumentation makes its span (`_traced`): a span costs
  even when the sampler drops it, and most are dropped.
* Export: OTLP over gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set (the exporter reads the other
  OTEL_EXPORTER_OTLP_* variables itself); otherwise OTLP JSON lines appended to TRACES_FILE when
  set (the local stack: DATA_DIR/logs/<service>.spans.jsonl); otherwise nowhere, though log lines
  still carry the trace ids. OTEL_SDK_DISABLED=true turns tracing off altogether.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.threading import ThreadingInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from tm_common.config import ServiceSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("tm_common")

# Probes and tooling, not requests: never traced.
_UNTRACED_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


class _RootSampler(Sampler):
    """Decides for spans that start a trace here (ParentBased defers to the parent otherwise).
    An RPC's span (SERVER) is only made when `_traced` drew it: it is kept."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        if kind == SpanKind.SERVER:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"RootUnlessClient{{{self._ratio.get_description()}}}"


def sampler(ratio: float) -> Sampler:
    return ParentBased(root=_RootSampler(ratio))


# Off only when configure_tracing was told so: servers started in-process (tests) trace into the
# API's no-op provider, as a service does before its provider is installed.
_enabled = True
# The share of RPCs without a sampled caller that start a kept trace (TRACE_SAMPLE_RATIO).
_root_ratio = 1.0
_draw = random.random
_ids = RandomIdGenerator()
# What suppress_instrumentation sets (the second, a plain string, for older instrumentations).
_SUPPRESSION_KEYS = (_SUPPRESS_INSTRUMENTATION_KEY, "suppress_instrumentation")


@dataclass
class Tracing:
    """The process's tracer provider; `shutdown` flushes the spans not yet exported."""

    provider: TracerProvider

    def shutdown(self) -> None:
        self.provider.shutdown()


def configure_tracing(settings: ServiceSettings) -> Tracing | None:
    """Install the process's tracer provider and the instrumentations; None when tracing is off.

    Once per process (service_main): the provider is global, and the instrumentations patch
    psycopg, redis and botocore for the whole process."""
    global _enabled, _root_ratio
    _enabled = not settings.otel_sdk_disabled
    if not _enabled:
        return None
    _root_ratio = settings.trace_sample_ratio
    resource = Resource.create(
        {
            "service.name": settings.service_name,
            "service.version": settings.app_version,
            "deployment.environment.name": settings.environment,
        }
    )
    provider = TracerProvider(resource=resource, sampler=sampler(settings.trace_sample_ratio))
    exporter = _exporter(settings)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    RedisInstrumentor().instrument(tracer_provider=provider)
    BotocoreInstrumentor().instrument(tracer_provider=provider)
    # boto3's transfers (S3 uploads and downloads) run in threads of their own: without this their
    # calls would start traces of their own, and be dropped as client spans without a parent.
    ThreadingInstrumentor().instrument()
    return Tracing(provider)


def _exporter(settings: ServiceSettings) -> SpanExporter | None:
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if settings.traces_file:
        from opentelemetry.exporter.otlp.json.file import FileSpanExporter

        os.makedirs(os.path.dirname(os.path.abspath(settings.traces_file)), exist_ok=True)
        return FileSpanExporter(settings.traces_file)
    return None


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """The span of each RPC, outermost, so that everything the RPC does (the access log line
    included) runs in it."""
    if not _enabled:
        return []
    return [aio_server_interceptor(filter_=_traced)]


def _traced(details: grpc.HandlerCallDetails) -> bool:
    """Whether the RPC gets a span of the instrumentation's: not a probe; a request whose caller
    sampled it; or one that starts a trace here, drawn at the ratio. The others run in an
    unsampled trace without a span (`in_request_trace`)."""
    # Plain tests: the instrumentation's own filters check the argument's type against a runtime
    # Protocol first, which cost ~40 us per RPC (measured, cProfile).
    if details.method.startswith(_UNTRACED_PREFIXES):
        return False
    for key, value in details.invocation_metadata or ():
        if key == "traceparent" and isinstance(value, str):
            sampled = _sampled_flag(value)
            if sampled is not None:
                return sampled
    return _draw() < _root_ratio


def _sampled_flag(traceparent: str) -> bool | None:
    """The sampled flag of a W3C traceparent ("00-<trace id>-<span id>-<flags>"); None if malformed."""
    try:
        return bool(int(traceparent[-2:], 16) & 1) if len(traceparent) == 55 else None
    except ValueError:
        return None


@contextlib.contextmanager
def in_request_trace(metadata: Mapping[str, Any]) -> Iterator[None]:
    """Around an RPC's behaviour, inside the instrumentation's span if it made one.

    An unsampled request costs next to nothing: it runs in its caller's trace context, or a new
    unsampled one (so its log lines, its events and its calls to other services still name a
    trace), with no span of its own and the instrumentations suppressed (no SQL, Redis or AWS spans
    that nobody keeps)."""
    if not _enabled:
        yield
        return
    token = None
    if not trace.get_current_span().get_span_context().is_valid:
        token = otel_context.attach(_unsampled_trace(metadata))
    try:
        with _instrumented_if_recorded(trace.get_current_span()):
            yield
    finally:
        if token is not None:
            otel_context.detach(token)


def _unsampled_trace(metadata: Mapping[str, Any]) -> otel_context.Context:
    """The caller's trace, which it did not sample; else a new trace, not sampled."""
    if "traceparent" in metadata:
        caller = extract(metadata)
        if trace.get_current_span(caller).get_span_context().is_valid:
            return caller
    new = trace.SpanContext(_ids.generate_trace_id(), _ids.generate_span_id(), is_remote=False)
    return trace.set_span_in_context(trace.NonRecordingSpan(new), otel_context.Context())


def client_interceptors() -> list[Any]:
    """A client span per call to another service, and the traceparent it sends."""
    if not _enabled:
        return []
    return list(aio_client_interceptors())


# -- trace context in events --------------------------------------------------------------
def inject(carrier: MutableMapping[str, str]) -> None:
    """Write the current trace context (traceparent, tracestate) into carrier."""
    propagate.inject(carrier)


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    """The context a carrier written by `inject` names (an empty one: a new trace)."""
    return propagate.extract(carrier, context=otel_context.Context())


def _unsampled(carrier: Mapping[str, str]) -> bool:
    """Whether the carrier names a trace its request did not sample (read without a parse)."""
    return _sampled_flag(carrier.get("traceparent", "")) is False


def span_context_of(carrier: Mapping[str, str]) -> trace.SpanContext:
    return trace.get_current_span(extract(carrier)).get_span_context()


def is_enabled() -> bool:
    return _enabled


@contextlib.contextmanager
def spans_in_their_traces(
    name: str,
    carriers: Sequence[Mapping[str, str]],
    kind: SpanKind,
    attributes_of: Callable[[int], Attributes],
    links: Sequence[Link] = (),
) -> Iterator[list[Span]]:
    """One span named `name` in each carrier's trace (none for an empty carrier), all open while
    the block runs: work done for several requests at once (a relay's batch, a consumer's), shown
    in each request's trace (not in one its request did not sample: nobody would keep it). Failed,
    with the exception, if the block raises. `attributes_of(i)`: the i-th span's attributes, asked
    only for the spans made."""
    spans = [
        tracer.start_span(name, context=extract(carrier), kind=kind, attributes=attributes_of(i), links=links)
        for i, carrier in enumerate(carriers)
        if carrier and not _unsampled(carrier)
    ]
    try:
        yield spans
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        for span in spans:
            span.end()


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Around a background loop (tm_common.loops): its own calls to Postgres and Redis, outside any
    request or event, make no span (one would start a trace that the sampler always drops, at a
    cost per call: measured, ~7% of an idle consumer's CPU under write load)."""
    with suppress_instrumentation():
        yield


@contextlib.contextmanager
def in_trace_of(
    name: str, carrier: Mapping[str, str], kind: SpanKind, attributes: Attributes
) -> Iterator[Span]:
    """The current span while the block runs: one named `name` in the carrier's trace when its
    request was sampled (the calls under it instrumented, even in a background loop); else no
    span, the carrier's trace current and the instrumentations suppressed."""
    if _unsampled(carrier):
        with _unsampled_in(carrier) as current:
            yield current
        return
    with (
        tracer.start_as_current_span(
            name, context=extract(carrier), kind=kind, attributes=attributes
        ) as span,
        _instrumented_if_recorded(span),
    ):
        yield span


@contextlib.contextmanager
def consuming(
    name: str, carriers: Sequence[Mapping[str, str]], attributes_of: Callable[[int], Attributes]
) -> Iterator[Span]:
    """The span of a consumer applying a batch of events, current while the block runs (so the
    SQL it runs are its children).

    Events of one trace (a batch of one, most often): the span is a child of the request that
    caused them, so that request's trace goes on to the consumer's writes. Events of several: the
    span starts a trace of its own, linked to each request, and each request's trace gets a span
    of its event, linked back to the batch (OpenTelemetry's messaging conventions for batches).
    Events whose requests were all unsampled: no span, their first request's trace current."""
    if carriers and all(_unsampled(carrier) for carrier in carriers):
        # The common case, and the cheap one: no span, as for an unsampled request.
        with _unsampled_in(carriers[0]) as current:
            yield current
        return
    contexts = [span_context_of(carrier) for carrier in carriers]
    traces = {c.trace_id for c in contexts}
    if len(traces) == 1 and contexts[0].is_valid:
        links = [Link(c) for c in contexts[1:] if c.span_id != contexts[0].span_id]
        first = {**(attributes_of(0) or {}), "messaging.batch.message_count": len(carriers)}
        with (
            tracer.start_as_current_span(
                name, context=extract(carriers[0]), kind=SpanKind.CONSUMER, links=links, attributes=first
            ) as span,
            _instrumented_if_recorded(span),
        ):
            yield span
        return
    links = [Link(c) for c in contexts if c.is_valid]
    batch_attributes = {"messaging.batch.message_count": len(carriers)}
    with (
        tracer.start_as_current_span(
            name,
            context=otel_context.Context(),
            kind=SpanKind.CONSUMER,
            links=links,
            attributes=batch_attributes,
        ) as batch,
        spans_in_their_traces(
            name, carriers, SpanKind.CONSUMER, attributes_of, [Link(batch.get_span_context())]
        ),
        _instrumented_if_recorded(batch),
    ):
        yield batch


@contextlib.contextmanager
def _unsampled_in(carrier: Mapping[str, str]) -> Iterator[Span]:
    """The carrier's (unsampled) trace current, no span, the instrumentations suppressed."""
    token = otel_context.attach(extract(carrier))
    try:
        with suppress_instrumentation():
            yield trace.get_current_span()
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def _instrumented_if_recorded(span: Span) -> Iterator[None]:
    """The instrumentations on under a span that is kept (even in a background loop, where they
    are off), suppressed under one nobody keeps (an unsampled request, or its events): a span per
    statement costs ~20 us even unrecorded (callgrind)."""
    if not span.is_recording():
        with suppress_instrumentation():
            yield
        return
    on = otel_context.get_current()
    for key in _SUPPRESSION_KEYS:
        on = otel_context.set_value(key, False, on)
    token = otel_context.attach(on)
    try:
        yield
    finally:
        otel_context.detach(token)


def current_ids() -> tuple[str, str] | None:
    """The trace id and span id of the current span, as hex, for log lines; None outside a trace."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")
