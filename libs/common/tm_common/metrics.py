"""The Prometheus metrics of a service process, in one place, and the endpoint that serves them.

Names and labels are the metrics contract of issue 15 (README, Observability). Every service
process serves them as Prometheus text at http://GRPC_HOST:METRICS_PORT/metrics (0: no endpoint).
Values live in prometheus_client's process-wide registry, so servers started in-process (tests)
share one set of series, as the RPCs of one process should.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# The `_created` series of every counter double the scrape for nothing a dashboard uses.
disable_created_metrics()

RPC_LABELS = ("grpc_service", "grpc_method", "grpc_type")
# prometheus_client's default buckets, plus 1 ms and 2.5 ms: a cached read answers in ~1 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

GRPC_STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", RPC_LABELS)
GRPC_HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed on the server, by status code.", (*RPC_LABELS, "grpc_code")
)
GRPC_HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its status, on the server.",
    RPC_LABELS,
    buckets=LATENCY_BUCKETS,
)
REDIS_ERRORS = Counter(
    "tm_redis_errors_total", "Redis commands that failed (connection, timeout), by command.", ("operation",)
)
RATE_LIMIT_REFUSALS = Counter(
    "tm_rate_limit_refusals_total", "Requests refused by a rate limit, by the limit's name.", ("limit",)
)


# -- gRPC server RED ------------------------------------------------------------------------
def rpc_type(handler: grpc.RpcMethodHandler) -> str:
    """The grpc_type label of a method handler (the names go-grpc-prometheus uses)."""
    if handler.unary_unary:
        return "UNARY"
    if handler.stream_unary:
        return "CLIENT_STREAM"
    if handler.unary_stream:
        return "SERVER_STREAM"
    return "BIDI_STREAM"


class RpcMetrics:
    """The series of one method, labelled once (labels() per RPC costs more than the increment)."""

    def __init__(self, method: str, kind: str) -> None:
        service, _, name = method.lstrip("/").rpartition("/")
        self._labels = (service, name, kind)
        self._handled: dict[grpc.StatusCode, Counter] = {}
        self.started = GRPC_STARTED.labels(*self._labels)
        self.handling = GRPC_HANDLING.labels(*self._labels)

    def handled(self, code: grpc.StatusCode, seconds: float) -> None:
        counter = self._handled.get(code)
        if counter is None:
            counter = self._handled[code] = GRPC_HANDLED.labels(*self._labels, code.name)
        counter.inc()
        self.handling.observe(seconds)


_rpc_metrics: dict[tuple[str, str], RpcMetrics] = {}


def for_method(method: str, kind: str) -> RpcMetrics:
    """The series of a registered method (unknown methods never get here, so the set is bounded)."""
    found = _rpc_metrics.get((method, kind))
    if found is None:
        found = _rpc_metrics[(method, kind)] = RpcMetrics(method, kind)
    return found


# -- database pools, read at scrape time ------------------------------------------------------
@dataclass(frozen=True)
class PoolStats:
    in_use: int
    idle: int
    waiting: int
    max: int


class PoolSource(Protocol):
    def pool_stats(self) -> PoolStats: ...


class PoolCollector(Collector):
    """tm_db_pool_*: the sum over the process's open databases (each has two pools, see db.py)."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[PoolSource] = weakref.WeakSet()

    def track(self, source: PoolSource) -> None:
        self._sources.add(source)

    def untrack(self, source: PoolSource) -> None:
        self._sources.discard(source)

    def collect(self) -> Iterable[Metric]:
        stats = [source.pool_stats() for source in list(self._sources)]
        if not stats:
            return
        connections = GaugeMetricFamily(
            "tm_db_pool_connections", "Database connections open in the pools, by state.", labels=["state"]
        )
        connections.add_metric(["in_use"], sum(s.in_use for s in stats))
        connections.add_metric(["idle"], sum(s.idle for s in stats))
        yield connections
        yield GaugeMetricFamily(
            "tm_db_pool_waiting", "Requests waiting for a database connection.", sum(s.waiting for s in stats)
        )
        yield GaugeMetricFamily(
            "tm_db_pool_max", "The most connections the pools may open.", sum(s.max for s in stats)
        )


DB_POOLS = PoolCollector()
REGISTRY.register(DB_POOLS)


# -- the outbox of a producer, sampled by its background loop (tm_common.relay) ----------------
class OutboxCollector(Collector):
    """tm_outbox_*: absent until the process's outbox was sampled (only producers have one).

    The age grows between samples, so it keeps rising while the database cannot be asked."""

    def __init__(self) -> None:
        self.published = 0
        self._sample: tuple[int, float | None, float] | None = None  # rows, oldest's age, when

    def record(self, unpublished: int, oldest_age: float | None) -> None:
        self._sample = (unpublished, oldest_age, time.monotonic())

    def collect(self) -> Iterable[Metric]:
        if self._sample is None:
            return
        rows, oldest_age, sampled_at = self._sample
        age = 0.0 if oldest_age is None else oldest_age + time.monotonic() - sampled_at
        yield GaugeMetricFamily("tm_outbox_unpublished_rows", "Outbox rows not yet on the stream.", rows)
        yield GaugeMetricFamily(
            "tm_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest outbox row not yet on the stream (0: none).",
            age,
        )
        yield CounterMetricFamily(
            "tm_outbox_published", "Outbox rows this process published to the stream.", self.published
        )


OUTBOX = OutboxCollector()
REGISTRY.register(OUTBOX)


# -- consumer groups (tm_common.consumer), the backlog sampled by a loop of their own ----------
CONSUMER_DEAD_LETTERED = Counter(
    "tm_consumer_dead_lettered_total",
    "Events a consumer group gave up on and moved to the dead-letter stream <stream>:dead.",
    ("stream", "group"),
)
CONSUMER_HANDLER = Histogram(
    "tm_consumer_handler_seconds",
    "Time to apply events, observed once per event: the time of the transaction that applied it "
    "(a whole batch read at once; after a handler failed in it, each event's own savepoint).",
    ("stream", "group"),
    buckets=LATENCY_BUCKETS,
)


class ConsumerGroupCollector(Collector):
    """tm_consumer_lag and tm_consumer_pending of the process's groups, as last sampled (see
    tm_common.consumer_backlog); a series is absent until its group was sampled once."""

    def __init__(self) -> None:
        self._samples: dict[tuple[str, str], tuple[int, int]] = {}  # (stream, group): lag, pending

    def record(self, stream: str, group: str, lag: int, pending: int) -> None:
        self._samples[(stream, group)] = (lag, pending)

    def collect(self) -> Iterable[Metric]:
        samples = dict(self._samples)  # the sampler may add a group meanwhile (another thread)
        if not samples:
            return
        labels = ["stream", "group"]
        lag = GaugeMetricFamily(
            "tm_consumer_lag", "Entries of the stream not yet delivered to the consumer group.", labels=labels
        )
        pending = GaugeMetricFamily(
            "tm_consumer_pending",
            "Entries delivered to the consumer group and not yet acknowledged.",
            labels=labels,
        )
        for key, (lag_value, pending_value) in samples.items():
            lag.add_metric(list(key), lag_value)
            pending.add_metric(list(key), pending_value)
        yield lag
        yield pending


CONSUMER_GROUPS = ConsumerGroupCollector()
REGISTRY.register(CONSUMER_GROUPS)


# -- the process's TLS certificates (tm_common.identity) ---------------------------------------
TLS_RELOADS = Counter(
    "tm_tls_reloads_total",
    "Changes of the TLS files seen by the process, by result: loaded (in use from the next "
    "connection), rejected (half-written or mismatched: the previous files stay in use).",
    ("result",),
)


class CertificateSource(Protocol):
    @property
    def not_after(self) -> float: ...


class CertificateCollector(Collector):
    """tm_tls_certificate_expiry_timestamp_seconds: when the process's certificate in use expires
    (the earliest, should a process hold several); absent without TLS."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[CertificateSource] = weakref.WeakSet()

    def track(self, source: CertificateSource) -> None:
        self._sources.add(source)

    def collect(self) -> Iterable[Metric]:
        expiries = [source.not_after for source in list(self._sources)]
        if expiries:
            yield GaugeMetricFamily(
                "tm_tls_certificate_expiry_timestamp_seconds",
                "Expiry of the TLS certificate the process presents, in seconds since the epoch.",
                min(expiries),
            )


TLS_CERTIFICATES = CertificateCollector()
REGISTRY.register(TLS_CERTIFICATES)


# -- the endpoint ---------------------------------------------------------------------------
@dataclass
class MetricsEndpoint:
    """prometheus_client's HTTP server: a daemon thread, off the asyncio loop."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(host: str, port: int) -> MetricsEndpoint | None:
    """Serve /metrics on host:port until stopped; None when the port is 0 (metrics off)."""
    if port == 0:
        return None
    server, thread = start_http_server(port, addr=host)
    return MetricsEndpoint(server, thread)
