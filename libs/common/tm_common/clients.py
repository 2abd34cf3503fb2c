"""Channels for calling other services: every call carries the current request id, the trace
(a client span and its traceparent, tm_common.tracing) and, unless the caller set one, the end
user's token, so the next hop logs the same ids and re-verifies the same user.

A channel balances its calls over every address its target resolves to (`round_robin` over DNS: a
headless Service's name resolves to each ready pod), keeps its connections alive with HTTP/2 pings,
and retries reads, never writes, that fail with UNAVAILABLE on another address (SERVICE_CONFIG).

Over mTLS a channel follows the renewals of the process's certificate files (tm_common.identity):
a FollowingChannel checks identity.client_generation() (no file access) before each call; once it
changed, the call and the next ones go to a new channel made with the current credentials (its
new connections present the new certificate and trust the new CA), and the previous channel is
closed RENEWED_CHANNEL_GRACE_SECONDS later: calls in flight on it finish there, within that time.
Stubs keep working across the swap: their multicallables look the current channel up per call."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from taskmanager.activity.v1 import activity_pb2
from taskmanager.auth.v1 import auth_pb2
from taskmanager.events.v1 import events_pb2
from taskmanager.files.v1 import files_pb2
from taskmanager.notify.v1 import notify_pb2
from taskmanager.ops.v1 import ops_pb2
from taskmanager.tasks.v1 import tasks_pb2
from tm_common import identity
from tm_common.context import principal_var, request_id_var
from tm_common.interceptors import REQUEST_ID_HEADER
from tm_common.tracing import client_interceptors, inject


def propagated_metadata(metadata: Any) -> grpc.aio.Metadata:
    merged = grpc.aio.Metadata(*(metadata or ()))
    request_id = request_id_var.get()
    if request_id and REQUEST_ID_HEADER not in merged:
        merged[REQUEST_ID_HEADER] = request_id
    if "traceparent" not in merged:  # no client span (an unsampled request): the caller's trace
        carrier: dict[str, str] = {}
        inject(carrier)
        for key, value in carrier.items():
            merged[key] = value
    principal = principal_var.get()
    if principal is not None and "authorization" not in merged:
        merged["authorization"] = f"Bearer {principal.token}"
    return merged


def _with_context(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=propagated_metadata(details.metadata),
        credentials=details.credentials,
        # Unless the caller chose: a call waits, within its deadline, for a connection that is
        # being made again (a peer that just restarted) instead of failing at once.
        wait_for_ready=True if details.wait_for_ready is None else details.wait_for_ready,
    )


class _Propagate(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return await continuation(_with_context(details), request)

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return await continuation(_with_context(details), request)

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return await continuation(_with_context(details), requests)

    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return await continuation(_with_context(details), requests)


# Headers (metadata) a server or client accepts. gRPC's default hard limit, 16 KiB, is less than
# what the gateway lets through (32 KiB of request headers, plus the original path it adds), and an
# error's headers can approach it: past the limit gRPC answers RESOURCE_EXHAUSTED, a misleading 429.
METADATA_BYTES = 64 * 1024
METADATA_OPTIONS = [
    ("grpc.max_metadata_size", METADATA_BYTES),
    ("grpc.absolute_max_metadata_size", METADATA_BYTES),
]


# HTTP/2 keepalive: a ping every KEEPALIVE_TIME_MS, even without calls, finds a connection to a pod
# that vanished (node lost, no FIN/RST) within KEEPALIVE_TIME_MS + KEEPALIVE_TIMEOUT_MS, instead of
# the kernel's TCP timeouts; round_robin then stops picking it. The servers accept pings this often
# (tm_common.server.KEEPALIVE_ENFORCEMENT_OPTIONS): a server answers pings more frequent than it
# allows with GOAWAY "too_many_pings".
KEEPALIVE_TIME_MS = 20_000
KEEPALIVE_TIMEOUT_MS = 10_000
KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),  # no cap on pings while idle (the interval is the cap)
]
# After a connection is lost, gRPC tries again after a backoff that grows to 120 s by default: a
# peer back after a restart of a few seconds would stay unreachable for as long. Tried again
# within a second at most, it is found within a second (an attempt at a dead address is a refused
# connect, cheap; on Kubernetes the name also stops resolving to it).
RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]
# gRPC re-resolves a name when a connection goes away (a pod stopped, a server's max connection
# age); this caps how often (default 30 s), so a new pod is found within seconds.
DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS = 2_000

# The services whose methods a channel may call: every one of the contracts, public and internal.
SERVICES: tuple[ServiceDescriptor, ...] = tuple(
    service
    for module in (auth_pb2, tasks_pb2, files_pb2, activity_pb2, notify_pb2, events_pb2, ops_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
)
# Reads by name: Get*, List*, BatchGet*, Download*, and Check* (TaskAccessService.CheckAccess,
# DiagnosticsService.CheckDependencies, grpc.health.v1.Health/Check). Create*Url is a write by its
# name and not retried, as in the taskmanager_client package. Client-streaming methods (uploads)
# are never retried.
READ_PREFIXES = ("Get", "List", "BatchGet", "Download", "Check")
IDEMPOTENT_METHODS: tuple[str, ...] = (
    *(
        f"/{service.full_name}/{method.name}"
        for service in SERVICES
        for method in service.methods
        if method.name.startswith(READ_PREFIXES) and not method.client_streaming
    ),
    "/grpc.health.v1.Health/Check",
)
# On UNAVAILABLE (connection refused or reset, a server stopping, or one that says it cannot serve
# now) a read is tried again, on the next address round_robin picks: at most 2 retries (as Envoy's
# read routes), after a jittered backoff. Retries never outlive the call's deadline: gRPC counts
# every attempt against it. Writes are not retried: one that reached a server before its connection
# failed could be applied twice (gRPC still replays, transparently, a call that never left the
# client or that a server refused unprocessed).
RETRY_POLICY: dict[str, Any] = {
    "maxAttempts": 3,
    "initialBackoff": "0.05s",
    "maxBackoff": "0.5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def service_config(policy: dict[str, Any] | None = None) -> str:
    """The `grpc.service_config` of every service channel: round_robin, and `policy`
    (RETRY_POLICY by default) on IDEMPOTENT_METHODS only."""
    names = []
    for path in IDEMPOTENT_METHODS:
        service, method = path.strip("/").split("/")
        names.append({"service": service, "method": method})
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [{"name": names, "retryPolicy": policy or RETRY_POLICY}],
        }
    )


SERVICE_CONFIG = service_config()
CHANNEL_OPTIONS = [
    *KEEPALIVE_OPTIONS,
    *RECONNECT_OPTIONS,
    ("grpc.dns_min_time_between_resolutions_ms", DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS),
    ("grpc.service_config", SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
]
# A target that names its resolver ("dns:", "ipv4:", "unix:" ...); a bare host:port gets "dns:///".
_SCHEME = re.compile(r"^(dns|ipv4|ipv6|unix|unix-abstract|vsock|xds|google-c2p):")


def channel_target(address: str) -> str:
    """`address` as a gRPC target resolved by DNS (every A/AAAA record: every pod of a headless
    Service), unless it already names its resolver."""
    return address if _SCHEME.match(address) else f"dns:///{address}"


def service_channel(address: str, max_message_bytes: int = 32 * 1024 * 1024) -> grpc.aio.Channel:
    """A channel to another service (host:port, or any gRPC target) that propagates the request
    context, balances over every address of the target and retries reads (SERVICE_CONFIG); over
    mTLS with this service's certificate when TLS is configured (tm_common.identity)."""
    return _channel(
        channel_target(address),
        interceptors=[*client_interceptors(), _Propagate()],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            *METADATA_OPTIONS,
            *CHANNEL_OPTIONS,
        ],
    )


def plain_channel(address: str) -> grpc.aio.Channel:
    """A channel to another service that balances, reconnects and retries as service_channel's,
    without its interceptors: for calls made outside any request (health probes of peers)."""
    return _channel(channel_target(address), options=CHANNEL_OPTIONS)


def _channel(target: str, options: list[tuple[str, Any]], **kwargs: Any) -> grpc.aio.Channel:
    credentials = identity.client_credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options, **kwargs)
    return FollowingChannel(target, options, kwargs)


def _made_channel(target: str, options: list[tuple[str, Any]], kwargs: dict[str, Any]) -> grpc.aio.Channel:
    credentials = identity.client_credentials()
    if credentials is None:  # TLS turned off since (tests)
        return grpc.aio.insecure_channel(target, options=options, **kwargs)
    return grpc.aio.secure_channel(target, credentials, options=[*options, *_tls_name(target)], **kwargs)


# How long a channel replaced after a renewal (FollowingChannel) lets its calls in flight finish
# before they are cancelled: the longest route's time (the server's MAX_CONNECTION_AGE_GRACE_MS).
RENEWED_CHANNEL_GRACE_SECONDS = 120.0


class FollowingChannel(grpc.aio.Channel):
    """A channel over mTLS that follows the process's client credentials (the module's docstring)."""

    def __init__(self, target: str, options: list[tuple[str, Any]], kwargs: dict[str, Any]) -> None:
        self._target, self._options, self._kwargs = target, options, kwargs
        self._generation = identity.client_generation()
        self._channel = _made_channel(target, options, kwargs)
        self._retired: dict[grpc.aio.Channel, asyncio.Task[None]] = {}  # replaced, closing

    def current(self) -> grpc.aio.Channel:
        """The channel of the current credentials, made now if they changed since the last call."""
        generation = identity.client_generation()
        if generation != self._generation:
            previous = self._channel
            self._channel = _made_channel(self._target, self._options, self._kwargs)
            self._generation = generation
            self._retired[previous] = asyncio.get_running_loop().create_task(self._retire(previous))
        return self._channel

    async def _retire(self, channel: grpc.aio.Channel) -> None:
        try:
            await channel.close(RENEWED_CHANNEL_GRACE_SECONDS)  # new calls refused, calls in flight finish
        finally:
            self._retired.pop(channel, None)

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Following(self, "unary_unary", method, args, kwargs)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Following(self, "unary_stream", method, args, kwargs)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Following(self, "stream_unary", method, args, kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Following(self, "stream_stream", method, args, kwargs)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self.current().get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self.current().wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self.current().channel_ready()

    async def close(self, grace: float | None = None) -> None:
        """Close the channel, and those it replaced that are still finishing their calls, with `grace`."""
        retired = list(self._retired)
        for task in self._retired.values():
            task.cancel()
        await asyncio.gather(*(channel.close(grace) for channel in [self._channel, *retired]))

    async def __aenter__(self) -> FollowingChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close(None)


class _Following:
    """A multicallable of a FollowingChannel: each call goes to its current channel."""

    def __init__(
        self, channel: FollowingChannel, kind: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._channel, self._kind, self._method = channel, kind, method
        self._args, self._kwargs = args, kwargs
        self._bound: tuple[grpc.aio.Channel, Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        channel = self._channel.current()
        if self._bound is None or self._bound[0] is not channel:
            multicallable = getattr(channel, self._kind)(self._method, *self._args, **self._kwargs)
            self._bound = (channel, multicallable)
        return self._bound[1](*args, **kwargs)


def _tls_name(target: str) -> list[tuple[str, str]]:
    """The name a server's certificate must hold. gRPC takes it from the target, except from a
    list of addresses ("ipv4:a:1,b:2", the local stack's replicas), whose authority is no host:
    there, the first address's host (every instance of a service holds the same certificate)."""
    scheme, _, addresses = target.partition(":")
    if scheme not in ("ipv4", "ipv6") or "," not in addresses:
        return []
    host = addresses.split(",")[0].removeprefix("//").rsplit(":", 1)[0].strip("[]")
    return [("grpc.ssl_target_name_override", host)]
