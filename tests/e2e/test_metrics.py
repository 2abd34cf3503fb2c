"""Every service process serves Prometheus metrics, and they move with the requests it answers."""

from __future__ import annotations

from support import prometheus
from support.accounts import PASSWORD, register
from support.polling import wait_until
from support.prometheus import Samples, scrape
from taskmanager.ops.v1 import ops_pb2, ops_pb2_grpc
from tm_devstack.services import SERVICES

PRODUCERS = {"auth", "tasks", "files"}  # the services with an outbox
TASKS_SERVICE = "taskmanager.tasks.v1.TasksService"
AUTH_SERVICE = "taskmanager.auth.v1.AuthService"
OPS = "taskmanager.ops.v1.OpsService"


def value(samples: Samples, name: str, **labels: str) -> float:
    return prometheus.value(samples, name, labels)


def handled(samples: Samples, service: str, method: str, code: str) -> float:
    labels = {"grpc_service": service, "grpc_method": method, "grpc_type": "UNARY", "grpc_code": code}
    return value(samples, "grpc_server_handled_total", **labels)


def test_every_service_serves_its_metrics(stack) -> None:
    urls = stack.metrics_urls()
    assert sorted(urls) == sorted(s.name for s in SERVICES)
    assert len(set(urls.values())) == len(urls)  # a port of its own each
    for name, url in urls.items():
        before = scrape(url)
        # GetVersion, not Health/Check: Envoy health-checks every service every 2 s meanwhile.
        with stack.service_channel(name) as channel:
            reply = ops_pb2_grpc.OpsServiceStub(channel).GetVersion(ops_pb2.GetVersionRequest(), timeout=5)
        assert reply.version
        samples = scrape(url)
        assert handled(samples, OPS, "GetVersion", "OK") == handled(before, OPS, "GetVersion", "OK") + 1, name
        names = {sample_name for sample_name, _ in samples}
        assert {"grpc_server_started_total", "grpc_server_handling_seconds_bucket"} <= names, name
        assert value(samples, "tm_db_pool_max") > 0, name
        outbox = {"tm_outbox_unpublished_rows", "tm_outbox_oldest_unpublished_age_seconds"}
        assert (outbox <= names) == (name in PRODUCERS), name


def test_a_request_through_the_gateway_is_counted_by_method_and_code(http, account, stack) -> None:
    url = stack.metrics_urls()["tasks"]
    before = scrape(url)
    response = http.post("/tasks", json={"title": "counted"}, headers=account.headers)
    assert response.status_code == 201, response.text
    missing = http.get("/tasks/999999999", headers=account.headers)
    assert missing.status_code == 404, missing.text
    after = scrape(url)
    assert (
        handled(after, TASKS_SERVICE, "CreateTask", "OK")
        == handled(before, TASKS_SERVICE, "CreateTask", "OK") + 1
    )
    assert (
        handled(after, TASKS_SERVICE, "GetTask", "NOT_FOUND")
        == handled(before, TASKS_SERVICE, "GetTask", "NOT_FOUND") + 1
    )
    labels = {"grpc_service": TASKS_SERVICE, "grpc_method": "CreateTask", "grpc_type": "UNARY"}
    assert (
        value(after, "grpc_server_started_total", **labels)
        == value(before, "grpc_server_started_total", **labels) + 1
    )
    assert (
        value(after, "grpc_server_handling_seconds_count", **labels)
        == value(before, "grpc_server_handling_seconds_count", **labels) + 1
    )
    assert value(after, "grpc_server_handling_seconds_bucket", **labels, le="+Inf") == value(
        after, "grpc_server_handling_seconds_count", **labels
    )


def test_the_database_pool_gauges_are_sane(http, account, stack) -> None:
    assert http.get("/tasks", headers=account.headers).status_code == 200  # the pools have been used
    samples = scrape(stack.metrics_urls()["tasks"])
    in_use = value(samples, "tm_db_pool_connections", state="in_use")
    idle = value(samples, "tm_db_pool_connections", state="idle")
    # Two pools (SQLAlchemy's and the fast path's) within DB_MAX_CONNECTIONS 10: 4 + 4 (the other
    # 2 are kept for LISTEN, outside the pools).
    assert value(samples, "tm_db_pool_max") == 8
    assert in_use >= 0 and idle >= 0
    assert 1 <= in_use + idle <= 8
    assert value(samples, "tm_db_pool_waiting") == 0


def test_a_rate_limit_refusal_is_counted_by_limit(http, stack) -> None:
    url = stack.metrics_urls()["auth"]
    user = register(http).json()
    wrong = {"username": user["username"], "password": "wrong password"}
    for _ in range(10):  # LOGIN_LIMIT_PER_USERNAME_ADDRESS
        assert http.post("/auth/login", json=wrong).status_code == 401
    before = scrape(url)
    refused = http.post("/auth/login", json={"username": user["username"], "password": PASSWORD})
    assert refused.status_code == 429, refused.text
    after = scrape(url)
    limit = "login-user-addr"
    assert (
        value(after, "tm_rate_limit_refusals_total", limit=limit)
        == value(before, "tm_rate_limit_refusals_total", limit=limit) + 1
    )
    assert (
        handled(after, AUTH_SERVICE, "Login", "RESOURCE_EXHAUSTED")
        == handled(before, AUTH_SERVICE, "Login", "RESOURCE_EXHAUSTED") + 1
    )


def redis_errors(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "tm_redis_errors_total")


def test_redis_errors_and_the_outbox_backlog_show_while_redis_is_down(http, account, stack) -> None:
    """Auth's limiter lets logins through without Redis, and tasks keeps taking writes into its
    outbox: the metrics are what show the outage."""
    user = register(http).json()
    login = {"username": user["username"], "password": PASSWORD}
    auth, tasks = stack.metrics_urls()["auth"], stack.metrics_urls()["tasks"]
    before = scrape(auth)
    published = value(scrape(tasks), "tm_outbox_published_total")
    stack.stop_program("redis")
    try:
        assert http.post("/auth/login", json=login).status_code == 200
        after = scrape(auth)
        created = http.post("/tasks", json={"title": "waits in the outbox"}, headers=account.headers)
        assert created.status_code == 201, created.text
        waiting = wait_until(
            lambda: scrape(tasks), "the backlog sampled", accept=lambda s: unpublished(s) >= 1
        )
        assert value(waiting, "tm_outbox_oldest_unpublished_age_seconds") > 0
    finally:
        stack.start_program("redis")
    wait_until(lambda: http.get("/health").status_code == 200, "health to recover after redis", 15, every=0.2)
    assert value(after, "tm_redis_errors_total", operation="EVALSHA") > value(
        before, "tm_redis_errors_total", operation="EVALSHA"
    )
    assert redis_errors(after) > redis_errors(before)
    drained = wait_until(lambda: scrape(tasks), "the backlog drained", accept=lambda s: unpublished(s) == 0)
    assert value(drained, "tm_outbox_oldest_unpublished_age_seconds") == 0
    assert value(drained, "tm_outbox_published_total") >= published + 1


def unpublished(samples: Samples) -> float:
    return value(samples, "tm_outbox_unpublished_rows")


def handler_count(samples: Samples, stream: str, group: str) -> float:
    return value(samples, "tm_consumer_handler_seconds_count", stream=stream, group=group)


def test_a_consumer_group_reports_its_backlog_and_times_the_events_it_applies(http, account, stack) -> None:
    url = stack.metrics_urls()["activity"]
    before = scrape(url)
    created = http.post("/tasks", json={"title": "seen by activity"}, headers=account.headers)
    assert created.status_code == 201, created.text
    after = wait_until(
        lambda: scrape(url),
        "activity to apply the task's event and sample its group",
        accept=lambda s: (
            handler_count(s, "events:tasks", "activity") > handler_count(before, "events:tasks", "activity")
            and all(("tm_consumer_lag", _group(stream)) in s for stream in ("events:tasks", "events:files"))
        ),
    )
    for stream in ("events:tasks", "events:files"):  # activity's streams
        assert value(after, "tm_consumer_lag", stream=stream, group="activity") >= 0
        assert value(after, "tm_consumer_pending", stream=stream, group="activity") >= 0


def _group(stream: str) -> frozenset[tuple[str, str]]:
    return frozenset({"stream": stream, "group": "activity"}.items())


def test_notify_reports_its_send_queue(stack) -> None:
    samples = wait_until(
        lambda: scrape(stack.metrics_urls()["notify"]),
        "notify's queue sampled",
        accept=lambda s: ("tm_notify_queue_emails", frozenset({("state", "retrying")})) in s,
    )
    for state in ("queued", "retrying", "sent", "failed"):
        assert value(samples, "tm_notify_queue_emails", state=state) >= 0
