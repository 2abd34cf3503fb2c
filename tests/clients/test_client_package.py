"""The client package (clients/python): built and installed in a fresh virtualenv and used against
the stack through the gateway; its channel's behaviour (metadata, deadlines, retries) against an
in-process gRPC server whose servicers count the attempts."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from taskmanager_client import IDEMPOTENT_METHODS, Client, service_config

from support.accounts import PASSWORD, unique
from support.polling import wait_until
from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from taskmanager.ops.v1 import ops_pb2, ops_pb2_grpc
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
VERSION = (ROOT / "VERSION").read_text().strip()
PUBLIC_STUBS = {
    "auth": "taskmanager.auth.v1.auth_pb2_grpc.AuthServiceStub",
    "tasks": "taskmanager.tasks.v1.tasks_pb2_grpc.TasksServiceStub",
    "sharing": "taskmanager.tasks.v1.tasks_pb2_grpc.SharingServiceStub",
    "comments": "taskmanager.tasks.v1.tasks_pb2_grpc.CommentsServiceStub",
    "files": "taskmanager.files.v1.files_pb2_grpc.FilesServiceStub",
    "activity": "taskmanager.activity.v1.activity_pb2_grpc.ActivityServiceStub",
    "notify": "taskmanager.notify.v1.notify_pb2_grpc.NotifyServiceStub",
    "ops": "taskmanager.ops.v1.ops_pb2_grpc.OpsServiceStub",
}


def run_in(venv: Path, script: str, *args: str) -> Any:
    """`script` run by the fresh virtualenv's interpreter, outside the repository (so only the
    installed package can be imported); it prints one JSON value, which is returned."""
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=venv,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


# --- the wheel, installed in a fresh virtualenv ---------------------------------------------------

INSTALLED_FILES = """
import json
from importlib import metadata
dist = metadata.distribution("taskmanager-client")
print(json.dumps({
    "version": dist.version,
    "files": sorted(str(f) for f in dist.files),
    "scripts": [e.name + "=" + e.value for e in dist.entry_points if e.group == "console_scripts"],
    "requires": dist.requires,
}))
"""


def test_the_wheel_holds_stubs_and_type_stubs_of_every_proto(client_venv: Path) -> None:
    installed = run_in(client_venv, INSTALLED_FILES)
    files = set(installed["files"])
    protos = sorted((ROOT / "protos").glob("taskmanager/*/v1/*.proto"))
    assert len(protos) == 7  # auth, tasks, files, activity, notify, ops, events
    for proto in protos:
        stem = str(proto.relative_to(ROOT / "protos").with_suffix(""))
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi"):
            assert f"{stem}{suffix}" in files, f"{stem}{suffix} is not in the wheel"
        assert f"{Path(stem).parent}/py.typed" in files
    assert {"taskmanager_client/py.typed", "taskmanager_client/client.py"} <= files
    assert not [f for f in files if f.startswith("google/")], "google.* comes from googleapis-common-protos"
    assert not [f for f in files if f.endswith(".proto")]
    assert installed["version"] == VERSION
    assert installed["scripts"] == ["taskctl=taskmanager_client.cli:main"]
    requires = {re.split("[<>=]", r)[0] for r in installed["requires"]}
    assert requires == {"grpcio", "protobuf", "googleapis-common-protos"}


IMPORTS = """
import importlib, json, sys
import taskmanager_client
from taskmanager_client import Client
from taskmanager.events.v1 import events_pb2
stubs = json.loads(sys.argv[1])
client = Client("127.0.0.1:1")
print(json.dumps({
    "version": taskmanager_client.__version__,
    "module": taskmanager_client.__file__,
    "events": events_pb2.DESCRIPTOR.package,
    "stubs": {
        attr: type(getattr(client, attr)).__module__ + "." + type(getattr(client, attr)).__name__
        for attr in stubs
    },
}))
client.close()
"""


def test_the_installed_package_imports_with_its_version(client_venv: Path) -> None:
    imported = run_in(client_venv, IMPORTS, json.dumps(PUBLIC_STUBS))
    assert imported["version"] == VERSION
    assert Path(imported["module"]).is_relative_to(client_venv)
    assert imported["events"] == "taskmanager.events.v1"
    assert imported["stubs"] == PUBLIC_STUBS


def test_the_installed_type_information_reaches_a_users_mypy(client_venv: Path, tmp_path: Path) -> None:
    """py.typed and the .pyi stubs are installed: mypy, looking only at the fresh virtualenv, reads
    the wrapper's and the messages' types (gRPC's own calls need grpc-stubs in the user's env)."""
    user_code = tmp_path / "user.py"
    user_code.write_text(
        "from taskmanager_client import Client\n"
        "from taskmanager.tasks.v1 import tasks_pb2\n"
        "def title(client: Client, task: tasks_pb2.Task) -> str:\n"
        "    return task.title + (client.token or '')\n"
        "wrong_field = tasks_pb2.Task(title=1)\n"
        "wrong_option = Client(timeout='ten')\n"
    )
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "mypy"),
            "--python-executable",
            str(client_venv / "bin" / "python"),
            "--no-incremental",
            "--config-file",
            "/dev/null",
            str(user_code),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    errors = [line.split(":")[1] for line in result.stdout.splitlines() if ": error:" in line]
    assert errors == ["5", "6"], result.stdout


# --- against the stack, through the gateway ------------------------------------------------------

SESSION = """
import grpc, json, sys
from taskmanager_client import Client
from taskmanager.auth.v1 import auth_pb2
from taskmanager.tasks.v1 import tasks_pb2
target, name, password = sys.argv[1:]
with Client(target) as client:
    email = name + "@example.com"
    user = client.auth.Register(auth_pb2.RegisterRequest(username=name, email=email, password=password))
    login = client.login(name, password)
    me, call = client.auth.GetMe.with_call(auth_pb2.GetMeRequest())
    created = client.tasks.CreateTask(tasks_pb2.CreateTaskRequest(title="from the client", tags=["pkg"]))
    listed = client.tasks.ListTasks(tasks_pb2.ListTasksRequest(tags=["pkg"]))
    got = client.tasks.GetTask(tasks_pb2.GetTaskRequest(id=created.id))
    print(json.dumps({
        "user": user.id, "token_type": login.token_type, "token_set": client.token == login.access_token,
        "me": [me.id, me.username], "gateway_request_id": dict(call.initial_metadata()).get("x-request-id"),
        "created": [created.id, created.user_id, created.title],
        "listed": [t.id for t in listed.tasks], "got": [got.id, got.title],
    }))
"""


def gateway_target(stack: Any) -> str:
    return f"127.0.0.1:{stack.gateway_port}"


def test_register_login_and_tasks_through_the_gateway(client_venv: Path, stack: Any) -> None:
    name = unique("pkg")
    seen = run_in(client_venv, SESSION, gateway_target(stack), name, PASSWORD)
    assert seen["token_type"] == "bearer" and seen["token_set"]
    assert seen["me"] == [seen["user"], name]  # GetMe answered for the token login() stored
    task_id = seen["created"][0]
    assert seen["created"] == [task_id, seen["user"], "from the client"]
    assert seen["listed"] == [task_id]
    assert seen["got"] == [task_id, "from the client"]
    # Envoy replaces a client's x-request-id with its own at the edge (tests/e2e/test_ops.py) and
    # returns it; the one the client sends is seen by servers behind no gateway (test below).
    assert seen["gateway_request_id"]


UNAUTHENTICATED = """
import grpc, json, sys
from taskmanager_client import Client
from taskmanager.tasks.v1 import tasks_pb2
codes = []
for token in (None, "not-a-jwt"):
    with Client(sys.argv[1], token=token) as client:
        try:
            client.tasks.ListTasks(tasks_pb2.ListTasksRequest())
            codes.append("OK")
        except grpc.RpcError as error:
            codes.append(error.code().name)
print(json.dumps(codes))
"""


def test_a_call_without_a_valid_token_is_unauthenticated(client_venv: Path, stack: Any) -> None:
    assert run_in(client_venv, UNAUTHENTICATED, gateway_target(stack)) == ["UNAUTHENTICATED"] * 2


TOKEN_GIVEN = """
import json, sys
from taskmanager_client import Client
from taskmanager.auth.v1 import auth_pb2
with Client(sys.argv[1], token=sys.argv[2]) as client:
    print(json.dumps(client.auth.GetMe(auth_pb2.GetMeRequest()).username))
"""


def test_a_token_given_to_the_client_is_sent(client_venv: Path, stack: Any, account: Any) -> None:
    assert run_in(client_venv, TOKEN_GIVEN, gateway_target(stack), account.token) == account.username


# A service's port speaks mTLS only (tm_common.identity): the test client's certificate.
FAILED_LOGIN = """
import grpc, json, sys
from taskmanager_client import Client
ca, key, cert = (open(path, "rb").read() for path in sys.argv[3:6])
with Client(
    sys.argv[1], request_id=sys.argv[2], root_certificates=ca, private_key=key, certificate_chain=cert
) as client:
    try:
        client.login("nobody-" + sys.argv[2], "wrong password")
    except grpc.RpcError as error:
        print(json.dumps(error.code().name))
"""


def test_the_request_id_reaches_the_service_that_logs_it(client_venv: Path, stack: Any) -> None:
    """Straight to auth's port: the gateway would put its own id in place of the client's."""
    request_id = f"client-{uuid.uuid4()}"
    tls = stack.tls["test-client"]
    paths = (str(tls.ca), str(tls.key), str(tls.cert))
    code = run_in(client_venv, FAILED_LOGIN, stack.service_address("auth"), request_id, *paths)
    assert code == "UNAUTHENTICATED"
    wait_until(
        lambda: f'"request_id": "{request_id}"' in (stack.log_dir / "auth.log").read_text(),
        "auth to log the client's request id",
        5,
    )


def test_a_client_certificate_needs_its_key_and_the_key_its_certificate() -> None:
    for half in ({"private_key": b"key"}, {"certificate_chain": b"cert"}):
        with pytest.raises(ValueError, match="both private_key and certificate_chain"):
            Client("127.0.0.1:1", **half)  # type: ignore[arg-type]


VERSION_SCRIPT = """
import json, sys
from taskmanager_client import Client
from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from taskmanager.ops.v1 import ops_pb2
with Client(sys.argv[1]) as client:
    print(json.dumps(client.ops.GetVersion(ops_pb2.GetVersionRequest()).version))
"""


def test_the_server_version_is_the_package_version(client_venv: Path, stack: Any) -> None:
    assert run_in(client_venv, VERSION_SCRIPT, gateway_target(stack)) == VERSION


# --- the channel's behaviour, against an in-process server ----------------------------------------


class Ops(ops_pb2_grpc.OpsServiceServicer):
    """GetHealth fails with UNAVAILABLE `failures` times, then answers; GetVersion waits for
    `release` (a handler slower than the client's deadline). Both record the metadata they saw."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts = 0
        self.metadata: list[dict[str, str]] = []
        self.release = threading.Event()

    def GetHealth(self, request: Any, context: grpc.ServicerContext) -> ops_pb2.GetHealthResponse:
        self.attempts += 1
        self.metadata.append({key: str(value) for key, value in context.invocation_metadata()})
        if self.attempts <= self.failures:
            context.abort(grpc.StatusCode.UNAVAILABLE, "not yet")
        return ops_pb2.GetHealthResponse(status="ok")

    def GetVersion(self, request: Any, context: grpc.ServicerContext) -> ops_pb2.GetVersionResponse:
        self.release.wait(30)
        return ops_pb2.GetVersionResponse(version="late")


class Tasks(tasks_pb2_grpc.TasksServiceServicer):
    """Every call fails with UNAVAILABLE `failures` times (counted per method), then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: dict[str, int] = {}

    def _attempt(self, method: str, context: grpc.ServicerContext) -> None:
        self.attempts[method] = self.attempts.get(method, 0) + 1
        if self.attempts[method] <= self.failures:
            context.abort(grpc.StatusCode.UNAVAILABLE, "not yet")

    def CreateTask(self, request: Any, context: grpc.ServicerContext) -> tasks_pb2.Task:
        self._attempt("CreateTask", context)
        return tasks_pb2.Task(id=1, title=request.title)

    def ListTasks(self, request: Any, context: grpc.ServicerContext) -> tasks_pb2.ListTasksResponse:
        self._attempt("ListTasks", context)
        return tasks_pb2.ListTasksResponse(total=0)

    def GetTask(self, request: Any, context: grpc.ServicerContext) -> tasks_pb2.TaskWithComments:
        self._attempt("GetTask", context)
        return tasks_pb2.TaskWithComments(id=request.id)


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """serve(ops=..., tasks=...) -> host:port of a real gRPC server running those servicers."""
    servers: list[grpc.Server] = []

    def start(ops: Ops | None = None, tasks: Tasks | None = None, auth: Any = None) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        if auth:
            auth_pb2_grpc.add_AuthServiceServicer_to_server(auth, server)
        if ops:
            ops_pb2_grpc.add_OpsServiceServicer_to_server(ops, server)
        if tasks:
            tasks_pb2_grpc.add_TasksServiceServicer_to_server(tasks, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0)


def test_an_idempotent_call_is_retried_on_unavailable(serve: Callable[..., str]) -> None:
    ops = Ops(failures=2)
    with Client(serve(ops=ops)) as client:
        assert client.ops.GetHealth(ops_pb2.GetHealthRequest()).status == "ok"
    assert ops.attempts == 3


def test_reads_are_retried_and_a_create_is_not(serve: Callable[..., str]) -> None:
    tasks = Tasks(failures=1)
    with Client(serve(tasks=tasks)) as client:
        with pytest.raises(grpc.RpcError) as error:
            client.tasks.CreateTask(tasks_pb2.CreateTaskRequest(title="once"))
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        client.tasks.ListTasks(tasks_pb2.ListTasksRequest())
        assert client.tasks.GetTask(tasks_pb2.GetTaskRequest(id=7)).id == 7
    assert tasks.attempts == {"CreateTask": 1, "ListTasks": 2, "GetTask": 2}


def test_retries_stop_after_five_attempts(serve: Callable[..., str]) -> None:
    ops = Ops(failures=100)
    with Client(serve(ops=ops)) as client, pytest.raises(grpc.RpcError) as error:
        client.ops.GetHealth(ops_pb2.GetHealthRequest())
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert ops.attempts == 5


def test_only_reads_are_in_the_retry_policy() -> None:
    names = {path.rsplit("/", 1)[1] for path in IDEMPOTENT_METHODS}
    assert {
        "GetMe",
        "GetJwks",
        "GetHealth",
        "GetVersion",
        "GetPreferences",
        "GetTask",
        "ListTasks",
        "GetTaskStats",
        "ListSharedWithMe",
        "ListComments",
        "ListFiles",
        "GetFileContent",
        "DownloadFile",
        "ListActivity",
        "GetTaskTimeline",
        "GetActivityStats",
    } == names
    config = json.loads(service_config())
    (method_config,) = config["methodConfig"]
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert {"service": "taskmanager.tasks.v1.TasksService", "method": "GetTask"} in method_config["name"]
    assert len(method_config["name"]) == len(IDEMPOTENT_METHODS)


def test_a_default_deadline_applies_when_the_caller_gives_none(serve: Callable[..., str]) -> None:
    ops = Ops()
    with Client(serve(ops=ops), timeout=0.2) as client, pytest.raises(grpc.RpcError) as error:
        client.ops.GetVersion(ops_pb2.GetVersionRequest())
    ops.release.set()
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_the_callers_own_deadline_wins(serve: Callable[..., str]) -> None:
    ops = Ops()
    with Client(serve(ops=ops), timeout=0.01) as client:
        later = client.ops.GetVersion.future(ops_pb2.GetVersionRequest(), timeout=60)
        ops.release.set()
        assert later.result().version == "late"


def test_the_token_and_a_fresh_request_id_go_with_every_call(serve: Callable[..., str]) -> None:
    ops = Ops()
    with Client(serve(ops=ops)) as client:
        client.ops.GetHealth(ops_pb2.GetHealthRequest())
        client.token = "t0ken"
        client.ops.GetHealth(ops_pb2.GetHealthRequest())
        client.ops.GetHealth(ops_pb2.GetHealthRequest(), metadata=[("x-request-id", "the-callers")])
    first, second, third = ops.metadata
    assert "authorization" not in first
    assert second["authorization"] == third["authorization"] == "Bearer t0ken"
    ids = [uuid.UUID(first["x-request-id"]), uuid.UUID(second["x-request-id"])]
    assert ids[0] != ids[1] and ids[0].version == 4
    assert third["x-request-id"] == "the-callers"


def test_a_request_id_given_to_the_client_is_sent(serve: Callable[..., str]) -> None:
    ops = Ops()
    with Client(serve(ops=ops), token="abc", request_id="batch-42") as client:
        client.ops.GetHealth(ops_pb2.GetHealthRequest())
    assert (ops.metadata[0]["x-request-id"], ops.metadata[0]["authorization"]) == ("batch-42", "Bearer abc")


class Auth(auth_pb2_grpc.AuthServiceServicer):
    """Login accepts one password; GetMe names the bearer token it was sent."""

    def Login(self, request: Any, context: grpc.ServicerContext) -> auth_pb2.LoginResponse:
        if request.password != PASSWORD:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid username or password")
        return auth_pb2.LoginResponse(access_token=f"token-of-{request.username}", token_type="bearer")

    def GetMe(self, request: Any, context: grpc.ServicerContext) -> auth_pb2.User:
        return auth_pb2.User(username=str(dict(context.invocation_metadata()).get("authorization", "")))


def test_login_stores_the_token_for_later_calls(serve: Callable[..., str]) -> None:
    with Client(serve(auth=Auth()), token="old") as client:
        with pytest.raises(grpc.RpcError) as error:
            client.login("ann", "wrong")
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert client.token == "old"
        reply = client.login("ann", PASSWORD)
        assert client.token == reply.access_token == "token-of-ann"
        assert client.auth.GetMe(auth_pb2.GetMeRequest()).username == "Bearer token-of-ann"
