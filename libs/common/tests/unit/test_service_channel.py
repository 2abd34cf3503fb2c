"""Service channels (tm_common.clients.service_channel) against two real in-process servers of the
same service (tm_common.server.start_server): calls spread evenly over both (round_robin), reads
that fail with UNAVAILABLE are retried on the other one, writes are never retried."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from tm_common.clients import (
    IDEMPOTENT_METHODS,
    KEEPALIVE_TIME_MS,
    RETRY_POLICY,
    SERVICE_CONFIG,
    channel_target,
    service_channel,
)
from tm_common.config import ServiceSettings
from tm_common.server import KEEPALIVE_ENFORCEMENT_OPTIONS, RunningServer, ServiceDefinition, start_server
from tm_common.tokens import TokenVerifier

READ = "/taskmanager.tasks.v1.TaskAccessService/CheckAccess"
WRITE = "/taskmanager.tasks.v1.TasksService/CreateTask"
CALLS = 100


@dataclass
class Replica:
    """One server's view: the calls it received, and whether it answers UNAVAILABLE to all."""

    name: str
    failing: bool = False
    reads: int = 0
    writes: int = 0
    running: RunningServer | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        assert self.running is not None
        return self.running.port


class _Access(tasks_pb2_grpc.TaskAccessServiceServicer):
    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    async def CheckAccess(
        self, request: tasks_pb2.CheckAccessRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.CheckAccessResponse:
        self.replica.reads += 1
        if self.replica.failing:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.replica.name} cannot serve now")
        return tasks_pb2.CheckAccessResponse(permission="owner", task_title=self.replica.name)


class _Tasks(tasks_pb2_grpc.TasksServiceServicer):
    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    async def CreateTask(
        self, request: tasks_pb2.CreateTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.Task:
        self.replica.writes += 1
        if self.replica.failing:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.replica.name} cannot serve now")
        return tasks_pb2.Task(id=1, title=request.title)


async def _no_keys() -> list[dict[str, Any]]:
    return []


async def _start(replica: Replica) -> Replica:
    def register(server: grpc.aio.Server) -> None:
        tasks_pb2_grpc.add_TaskAccessServiceServicer_to_server(_Access(replica), server)
        tasks_pb2_grpc.add_TasksServiceServicer_to_server(_Tasks(replica), server)

    definition = ServiceDefinition(
        name="tasks",
        register=register,
        service_names=["taskmanager.tasks.v1.TaskAccessService", "taskmanager.tasks.v1.TasksService"],
        verifier=TokenVerifier(_no_keys, issuer="test", audience="test"),
        public_methods=[READ, WRITE],
    )
    settings = ServiceSettings(metrics_port=0, otel_sdk_disabled=True)
    replica.running = await start_server(definition, settings, address="127.0.0.1:0")
    return replica


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[Replica, Replica]]:
    first, second = await _start(Replica("first")), await _start(Replica("second"))
    yield first, second
    for replica in (first, second):
        if replica.running is not None:
            await replica.running.stop(0)


@pytest.fixture
async def channel(replicas: tuple[Replica, Replica]) -> AsyncIterator[grpc.aio.Channel]:
    """One channel whose target resolves to both servers (as a headless Service's name does)."""
    first, second = replicas
    async with service_channel(f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}") as channel:
        await _until_both_connected(channel, replicas)
        yield channel


async def _until_both_connected(channel: grpc.aio.Channel, replicas: tuple[Replica, Replica]) -> None:
    """round_robin picks only connected addresses: read until each server has answered once, then
    forget those calls."""
    stub = tasks_pb2_grpc.TaskAccessServiceStub(channel)
    for _ in range(200):
        if all(replica.reads for replica in replicas):
            break
        await stub.CheckAccess(tasks_pb2.CheckAccessRequest(task_id=1, user_id=1), timeout=5)
    else:
        raise AssertionError(f"not both servers reached: {replicas}")
    for replica in replicas:
        replica.reads = 0


async def _read(channel: grpc.aio.Channel) -> str:
    stub = tasks_pb2_grpc.TaskAccessServiceStub(channel)
    reply = await stub.CheckAccess(tasks_pb2.CheckAccessRequest(task_id=1, user_id=1), timeout=5)
    return reply.task_title


async def _write(channel: grpc.aio.Channel) -> grpc.StatusCode:
    stub = tasks_pb2_grpc.TasksServiceStub(channel)
    try:
        await stub.CreateTask(tasks_pb2.CreateTaskRequest(title="t"), timeout=5)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_calls_spread_evenly_over_two_servers(
    channel: grpc.aio.Channel, replicas: tuple[Replica, Replica]
) -> None:
    answered = [await _read(channel) for _ in range(CALLS)]
    for replica in replicas:
        assert 0.4 * CALLS <= replica.reads <= 0.6 * CALLS, replicas
        assert answered.count(replica.name) == replica.reads
    writes = [await _write(channel) for _ in range(CALLS)]
    assert set(writes) == {grpc.StatusCode.OK}
    for replica in replicas:
        assert 0.4 * CALLS <= replica.writes <= 0.6 * CALLS, replicas


async def test_reads_are_retried_on_the_other_server(
    channel: grpc.aio.Channel, replicas: tuple[Replica, Replica]
) -> None:
    failing, healthy = replicas
    failing.failing = True
    answered = [await _read(channel) for _ in range(CALLS)]
    assert answered == [healthy.name] * CALLS
    assert healthy.reads == CALLS
    # The failing server was tried (and its answers retried), not avoided.
    assert failing.reads >= 0.3 * CALLS, replicas


async def test_writes_are_not_retried(channel: grpc.aio.Channel, replicas: tuple[Replica, Replica]) -> None:
    failing, healthy = replicas
    failing.failing = True
    codes = [await _write(channel) for _ in range(CALLS)]
    # One attempt per call: each write that reached the failing server failed there.
    assert failing.writes + healthy.writes == CALLS
    assert codes.count(grpc.StatusCode.UNAVAILABLE) == failing.writes >= 0.3 * CALLS
    assert codes.count(grpc.StatusCode.OK) == healthy.writes


async def test_retries_are_bounded(channel: grpc.aio.Channel, replicas: tuple[Replica, Replica]) -> None:
    for replica in replicas:
        replica.failing = True
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _read(channel)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert sum(replica.reads for replica in replicas) == RETRY_POLICY["maxAttempts"]
    assert await _write(channel) == grpc.StatusCode.UNAVAILABLE
    assert sum(replica.writes for replica in replicas) == 1


async def test_reads_succeed_with_one_server_stopped(
    channel: grpc.aio.Channel, replicas: tuple[Replica, Replica]
) -> None:
    stopped, serving = replicas
    assert stopped.running is not None
    await stopped.running.stop(0)
    stopped.running = None
    answered = [await _read(channel) for _ in range(CALLS)]
    assert answered == [serving.name] * CALLS
    assert stopped.reads == 0


async def test_a_host_name_is_resolved_by_dns(replicas: tuple[Replica, Replica]) -> None:
    first, _ = replicas
    async with service_channel(f"localhost:{first.port}") as channel:
        assert await _read(channel) == first.name


def test_targets_are_resolved_by_dns_unless_they_name_a_resolver() -> None:
    assert channel_target("tasks:50052") == "dns:///tasks:50052"
    assert channel_target("[::1]:50052") == "dns:///[::1]:50052"
    for target in ("dns:///tasks:50052", "ipv4:127.0.0.1:1,127.0.0.1:2", "unix:/run/tasks.sock"):
        assert channel_target(target) == target


def test_only_reads_are_retried() -> None:
    config = json.loads(SERVICE_CONFIG)
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    (method_config,) = config["methodConfig"]
    retried = {f"/{name['service']}/{name['method']}" for name in method_config["name"]}
    assert retried == set(IDEMPOTENT_METHODS)
    # The internal reads between services.
    assert {
        READ,
        "/taskmanager.auth.v1.UserDirectoryService/GetUser",
        "/taskmanager.auth.v1.UserDirectoryService/GetUserByUsername",
        "/taskmanager.auth.v1.UserDirectoryService/BatchGetUsers",
        "/taskmanager.events.v1.EventMarksService/GetWriteMark",
    } <= retried
    writes = {
        WRITE,
        "/taskmanager.files.v1.FilesService/UploadFile",
        "/taskmanager.files.v1.FilesService/CreateUploadUrl",
        "/taskmanager.files.v1.FilesService/CreateDownloadUrl",
        "/taskmanager.tasks.v1.SharingService/ShareTask",
        "/taskmanager.auth.v1.AuthService/Login",
    }
    assert not writes & retried
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


def test_servers_accept_the_clients_keepalive_pings() -> None:
    enforced = dict(KEEPALIVE_ENFORCEMENT_OPTIONS)
    assert enforced["grpc.keepalive_permit_without_calls"] == 1
    assert enforced["grpc.http2.min_ping_interval_without_data_ms"] <= KEEPALIVE_TIME_MS
