"""The scenarios: GetMe and /health of the auth slice, and per bench user the tasks scenarios, each
as JSON through Envoy and native gRPC through Envoy (and gRPC direct to the service for get)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tm_bench.k6 import Scenario
from tm_bench.seed import SEARCH_WORD, BenchUser
from tm_bench.target import Target, host_port

GET_ME = "taskmanager.auth.v1.AuthService/GetMe"
TASKS = "taskmanager.tasks.v1.TasksService"
JSON_VIA_ENVOY, GRPC_VIA_ENVOY, GRPC_DIRECT = "JSON via Envoy", "gRPC via Envoy", "gRPC direct"


@dataclass(frozen=True)
class Call:
    """One request as JSON through the gateway and as its native gRPC call. The k6 scripts replace
    "{id}" by a random one of the user's seeded tasks and "{priority}" by a random priority."""

    method: str  # HTTP
    path: str
    body: str  # JSON, or "" for none
    rpc: str  # TasksService method
    request: str  # JSON of the gRPC request

    @classmethod
    def of(cls, method: str, path: str, rpc: str, request: str, body: object = None) -> Call:
        return cls(method, path, "" if body is None else json.dumps(body), rpc, request)


@dataclass(frozen=True)
class TaskScenario:
    name: str
    call: Call  # measured
    before: Call | None = None  # made first in each iteration, not measured
    direct: bool = False  # also gRPC straight to the tasks service


LIST_FILTER = {"completed": False, "priority": "high", "sort_by": "due_date", "sort_order": "desc"}
LIST_QUERY = "completed=false&priority=high&sort_by=due_date&sort_order=desc&limit=20"
NEW_TASK = {
    "title": "Bench task",
    "description": "made by make bench",
    "priority": "medium",
    "tags": ["bench"],
}
# Changes a random seeded task (and so the user's stats version) without skewing the tasks' mix.
PATCH = Call(
    "PATCH",
    "/tasks/{id}",
    '{"priority": "{priority}"}',
    "UpdateTask",
    '{"id": {id}, "patch": {"priority": "{priority}"}}',
)
STATS = Call.of("GET", "/tasks/stats", "GetTaskStats", "{}")
# In this order: writes last, so that every read sees the seeded tasks only.
TASK_SCENARIOS = [
    TaskScenario("get", Call.of("GET", "/tasks/{id}", "GetTask", '{"id": {id}}'), direct=True),
    TaskScenario(
        "list", Call.of("GET", f"/tasks?{LIST_QUERY}", "ListTasks", json.dumps({**LIST_FILTER, "limit": 20}))
    ),
    TaskScenario(
        "search",
        Call.of(
            "GET",
            f"/tasks?search={SEARCH_WORD}&limit=20",
            "ListTasks",
            json.dumps({"search": SEARCH_WORD, "limit": 20}),
        ),
    ),
    TaskScenario("stats hit", STATS),  # cached by the request before the load (see seed_check)
    TaskScenario("stats miss", STATS, before=PATCH),
    TaskScenario("create", Call.of("POST", "/tasks", "CreateTask", json.dumps(NEW_TASK), body=NEW_TASK)),
]


def auth_scenarios(target: Target, username: str) -> list[Scenario]:
    def get_me(transport: str, address: str, tls: dict[str, str] | None = None) -> Scenario:
        env = {"ADDRESS": address, "METHOD": GET_ME, **(tls or {})}
        return Scenario("-", "auth GetMe", transport, "grpc", env, username)

    found = [
        Scenario("-", "auth GetMe", JSON_VIA_ENVOY, "http", {"URL": f"{target.gateway}/auth/me"}, username),
        get_me(GRPC_VIA_ENVOY, host_port(target.gateway)),
    ]
    if target.auth_direct:
        found.append(get_me(GRPC_DIRECT, target.auth_direct, target.direct_tls))
    found.append(Scenario("-", "health", JSON_VIA_ENVOY, "http", {"URL": f"{target.gateway}/health"}, None))
    return found


def task_scenarios(target: Target, user: BenchUser) -> list[Scenario]:
    ids = {"ID_MIN": str(user.first_id), "ID_MAX": str(user.last_id)}
    found = []
    for s in TASK_SCENARIOS:
        http = {"URL": target.gateway + s.call.path, "METHOD": s.call.method, "BODY": s.call.body}
        grpc = {"METHOD": f"{TASKS}/{s.call.rpc}", "REQUEST": s.call.request}
        if s.before:
            http |= {
                "BEFORE_URL": target.gateway + s.before.path,
                "BEFORE_METHOD": s.before.method,
                "BEFORE_BODY": s.before.body,
            }
            grpc |= {"BEFORE_METHOD": f"{TASKS}/{s.before.rpc}", "BEFORE_REQUEST": s.before.request}
        addresses = [(GRPC_VIA_ENVOY, host_port(target.gateway))]
        if s.direct and target.tasks_direct:
            addresses.append((GRPC_DIRECT, target.tasks_direct))
        found.append(Scenario(user.label, s.name, JSON_VIA_ENVOY, "http", ids | http, user.username))
        for transport, address in addresses:
            env = ids | grpc | {"ADDRESS": address} | (target.direct_tls if transport == GRPC_DIRECT else {})
            found.append(Scenario(user.label, s.name, transport, "grpc", env, user.username))
    return found


def legend() -> list[str]:
    """What each tasks scenario sends, as JSON and as gRPC."""
    lines = []
    for s in TASK_SCENARIOS:
        steps = [s.before, s.call] if s.before else [s.call]
        http = " then ".join(f"{c.method} {c.path}{' ' + c.body if c.body else ''}" for c in steps)
        grpc = " then ".join(f"{c.rpc} {c.request}" for c in steps)
        lines.append(f"{s.name:<10}  {http}\n{'':<10}  {grpc}")
    return lines
