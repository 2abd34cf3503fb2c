"""GET /tasks/stats through the gateway: counts over the caller's own tasks, cached in Redis per
user and invalidated by every write path; a Redis outage falls back to the database.

Stats are read BEFORE each write as well as after it, so a cached value that a write failed to
invalidate is caught. The expected stats are computed from the tasks as the writes answered them
(support.tasks.expected_stats). Due dates are far in the past or future, so "overdue" does
not depend on the time zone or the hour the tests run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from google.protobuf import struct_pb2

from support.accounts import Account, bearer_metadata, new_account
from support.errors import assert_status_body
from support.polling import wait_until
from support.tasks import assert_stats, bulk_update, create_task, list_tasks, task_stats
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

PAST, FUTURE = "2000-01-01", "2099-12-31"

# One user's starting tasks, by name: every priority, overdue and not, shared and unique tags.
BASELINE: dict[str, dict[str, Any]] = {
    "a": {"title": "a", "priority": "high", "due_date": PAST, "tags": ["work", "urgent"]},
    "b": {"title": "b", "priority": "low", "due_date": FUTURE, "tags": ["home"], "completed": True},
    "c": {"title": "c"},
    "d": {"title": "d", "due_date": PAST, "tags": ["work"], "completed": True},
}

Model = dict[str, dict[str, Any]]  # name -> the task as last answered


def baseline(http: httpx.Client, account: Account) -> Model:
    return {name: create_task(http, account, **fields) for name, fields in BASELINE.items()}


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def patch(http: httpx.Client, account: Account, model: Model, name: str, fields: dict[str, Any]) -> None:
    model[name] = ok(http.patch(f"/tasks/{model[name]['id']}", json=fields, headers=account.headers))


def bulk(
    http: httpx.Client, account: Account, model: Model, names: list[str], fields: dict[str, Any]
) -> None:
    response = bulk_update(http, account, [model[name]["id"] for name in names], fields)
    assert response.status_code == 200, response.text
    for name, task in zip(names, response.json(), strict=True):
        model[name] = task


def delete(http: httpx.Client, account: Account, model: Model, name: str) -> None:
    response = http.delete(f"/tasks/{model[name]['id']}", headers=account.headers)
    assert response.status_code == 204, response.text
    del model[name]


def add_tags(http: httpx.Client, account: Account, model: Model, name: str, tags: list[str]) -> None:
    model[name] = ok(http.post(f"/tasks/{model[name]['id']}/tags", json=tags, headers=account.headers))


def remove_tag(http: httpx.Client, account: Account, model: Model, name: str, tag: str) -> None:
    model[name] = ok(http.delete(f"/tasks/{model[name]['id']}/tags/{tag}", headers=account.headers))


def create(http: httpx.Client, account: Account, model: Model, name: str, **fields: Any) -> None:
    model[name] = create_task(http, account, **fields)


# Every kind of write, each changing the stats.
WRITES: dict[str, Callable[[httpx.Client, Account, Model], None]] = {
    "create": lambda h, a, m: create(h, a, m, "e", priority="high", due_date=PAST, tags=["work", "new"]),
    "create-completed": lambda h, a, m: create(h, a, m, "e", completed=True, tags=["home"]),
    "patch-complete": lambda h, a, m: patch(h, a, m, "a", {"completed": True}),
    "patch-reopen": lambda h, a, m: patch(h, a, m, "d", {"completed": False}),
    "patch-priority": lambda h, a, m: patch(h, a, m, "c", {"priority": "low"}),
    "patch-tags": lambda h, a, m: patch(h, a, m, "a", {"tags": ["home", "fresh"]}),
    "patch-tags-null": lambda h, a, m: patch(h, a, m, "a", {"tags": None}),
    "patch-due-date": lambda h, a, m: patch(h, a, m, "c", {"due_date": PAST}),
    "patch-clear-due-date": lambda h, a, m: patch(h, a, m, "a", {"due_date": None}),
    "bulk-complete": lambda h, a, m: bulk(h, a, m, ["a", "c"], {"completed": True, "priority": "low"}),
    "bulk-tags": lambda h, a, m: bulk(h, a, m, ["b", "c", "d"], {"tags": ["work", "bulk"]}),
    "delete": lambda h, a, m: delete(h, a, m, "a"),
    "add-tags": lambda h, a, m: add_tags(h, a, m, "c", ["home", "work"]),
    "add-existing-and-new-tag": lambda h, a, m: add_tags(h, a, m, "a", ["work", "extra"]),
    "remove-tag": lambda h, a, m: remove_tag(h, a, m, "a", "work"),
}


def test_a_new_user_has_zero_stats(http, account) -> None:
    stats = assert_stats(http, account, [])
    assert stats == {
        "total": 0,
        "completed": 0,
        "incomplete": 0,
        "by_priority": {"low": 0, "medium": 0, "high": 0},
        "by_tag": {},
        "overdue": 0,
        "completion_rate": 0,
    }


def test_stats_of_the_baseline(http, account) -> None:
    baseline(http, account)
    stats = task_stats(http, account)
    assert {key: value for key, value in stats.items() if key != "completion_rate"} == {
        "total": 4,
        "completed": 2,
        "incomplete": 2,
        "by_priority": {"low": 1, "medium": 2, "high": 1},
        "by_tag": {"work": 2, "urgent": 1, "home": 1},
        "overdue": 1,  # a; d is past due but completed
    }
    assert stats["completion_rate"] == pytest.approx(0.5)
    assert all(type(stats[key]) is int for key in ("total", "completed", "incomplete", "overdue"))


def test_due_today_or_later_is_not_overdue(http, account) -> None:
    create_task(http, account, due_date=FUTURE)
    create_task(http, account)
    create_task(http, account, due_date=PAST)
    create_task(http, account, due_date=PAST, completed=True)
    assert task_stats(http, account)["overdue"] == 1


def test_completion_rate_is_a_fraction(http, account) -> None:
    model = {str(i): create_task(http, account, completed=i == 0) for i in range(3)}
    stats = assert_stats(http, account, model.values())
    assert stats["completion_rate"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("write", list(WRITES))
def test_stats_are_right_after_each_kind_of_write(http, account, write) -> None:
    model = baseline(http, account)
    before = assert_stats(http, account, model.values())  # now cached, if the service caches
    WRITES[write](http, account, model)
    after = assert_stats(http, account, model.values())
    assert after != before, "this write was meant to change the stats"
    assert_stats(http, account, model.values())  # read again: the fresh value, from cache or not


def test_stats_follow_a_sequence_of_every_kind_of_write(http, account) -> None:
    model: Model = {}
    steps: list[Callable[[], None]] = [
        *(
            (lambda name=name, fields=fields: create(http, account, model, name, **fields))
            for name, fields in BASELINE.items()
        ),
        lambda: patch(http, account, model, "a", {"completed": True}),
        lambda: patch(http, account, model, "b", {"priority": "high"}),
        lambda: patch(http, account, model, "c", {"tags": ["home", "work"]}),
        lambda: patch(http, account, model, "d", {"completed": False}),
        lambda: patch(http, account, model, "c", {"due_date": PAST}),
        lambda: bulk(http, account, model, ["a", "b", "c"], {"completed": False, "priority": "medium"}),
        lambda: bulk(http, account, model, ["c", "d"], {"tags": ["solo"]}),
        lambda: add_tags(http, account, model, "d", ["x", "y"]),
        lambda: remove_tag(http, account, model, "d", "x"),
        lambda: delete(http, account, model, "a"),
        lambda: create(http, account, model, "e", priority="low", completed=True, tags=["y"]),
        *((lambda name=name: delete(http, account, model, name)) for name in ("b", "c", "d", "e")),
    ]
    for step in steps:
        assert_stats(http, account, model.values())  # before: a stale cache shows after the write
        step()
    assert model == {}
    assert_stats(http, account, [])


def test_a_failed_write_leaves_the_stats(http, account) -> None:
    model = baseline(http, account)
    assert_stats(http, account, model.values())
    ids = [model["a"]["id"], 2_147_483_647]
    assert_status_body(bulk_update(http, account, ids, {"completed": True}), 404, 5)
    assert_stats(http, account, model.values())
    response = http.patch(f"/tasks/{model['a']['id']}", json={"priority": "urgent"}, headers=account.headers)
    assert_status_body(response, 400, 3)
    assert_stats(http, account, model.values())


# -- native gRPC writes go through the same invalidation --------------------------------------
@pytest.fixture(scope="module")
def stub(gateway_channel) -> tasks_pb2_grpc.TasksServiceStub:
    return tasks_pb2_grpc.TasksServiceStub(gateway_channel)


def test_grpc_writes_invalidate_the_stats(http, stub, account) -> None:
    model = baseline(http, account)
    meta = bearer_metadata(account)
    assert_stats(http, account, model.values())
    created = stub.CreateTask(
        tasks_pb2.CreateTaskRequest(title="over grpc", priority="low", tags=["grpc"]), metadata=meta
    )
    model["g"] = ok(http.get(f"/tasks/{created.id}", headers=account.headers))
    assert_stats(http, account, model.values())
    stub.BulkUpdateTasks(
        tasks_pb2.BulkUpdateTasksRequest(
            task_ids=[model["g"]["id"], model["c"]["id"]],
            updates=tasks_pb2.TaskPatch(completed=struct_pb2.Value(bool_value=True)),
        ),
        metadata=meta,
    )
    for name in ("g", "c"):
        model[name] = ok(http.get(f"/tasks/{model[name]['id']}", headers=account.headers))
    assert_stats(http, account, model.values())
    reply = stub.GetTaskStats(tasks_pb2.GetTaskStatsRequest(), metadata=meta)
    assert (reply.total, reply.completed, reply.by_priority.low, dict(reply.by_tag)["grpc"]) == (5, 4, 2, 1)
    stub.DeleteTask(tasks_pb2.DeleteTaskRequest(id=model["g"]["id"]), metadata=meta)
    del model["g"]
    assert_stats(http, account, model.values())


# -- cross-user isolation ----------------------------------------------------------------------
def test_another_users_writes_never_change_my_stats(http) -> None:
    me = new_account(http)
    mine = baseline(http, me)
    for write in WRITES.values():
        other = new_account(http)
        theirs = baseline(http, other)
        assert_stats(http, me, mine.values())  # cached
        assert_stats(http, other, theirs.values())
        write(http, other, theirs)
        assert_stats(http, me, mine.values())
        assert_stats(http, other, theirs.values())
    # A stranger's attempts at my tasks fail and change nothing.
    stranger = new_account(http)
    target = mine["a"]["id"]
    assert_status_body(bulk_update(http, stranger, [target], {"completed": True}), 404, 5)
    response = http.patch(f"/tasks/{target}", json={"completed": True}, headers=stranger.headers)
    assert_status_body(response, 404, 5)
    assert_status_body(http.post(f"/tasks/{target}/tags", json=["x"], headers=stranger.headers), 404, 5)
    assert_status_body(http.delete(f"/tasks/{target}/tags/work", headers=stranger.headers), 404, 5)
    assert_status_body(http.delete(f"/tasks/{target}", headers=stranger.headers), 404, 5)
    assert_stats(http, me, mine.values())
    assert_stats(http, stranger, [])
    # And my writes do not change another's.
    other = new_account(http)
    theirs = baseline(http, other)
    assert_stats(http, other, theirs.values())
    patch(http, me, mine, "a", {"completed": True, "tags": ["mine-only"]})
    assert_stats(http, me, mine.values())
    assert_stats(http, other, theirs.values())


def test_two_users_with_the_same_tags_are_counted_apart(http) -> None:
    me, other = new_account(http), new_account(http)
    mine = {"x": create_task(http, me, tags=["shared"], priority="high")}
    theirs = {str(i): create_task(http, other, tags=["shared"]) for i in range(3)}
    assert assert_stats(http, me, mine.values())["by_tag"] == {"shared": 1}
    assert assert_stats(http, other, theirs.values())["by_tag"] == {"shared": 3}


# -- Redis outage ------------------------------------------------------------------------------
def wait_healthy(http: httpx.Client) -> None:
    wait_until(lambda: http.get("/health").status_code == 200, "health to recover after redis", 30, every=0.2)


def test_stats_and_writes_work_while_redis_is_down(http, stack) -> None:
    me, other = new_account(http), new_account(http)  # before the outage
    model = baseline(http, me)
    theirs = baseline(http, other)
    assert_stats(http, me, model.values())  # cached
    assert_stats(http, other, theirs.values())
    stack.stop_program("redis")
    try:
        assert_stats(http, me, model.values())  # from the database
        assert_stats(http, me, model.values())
        for write in WRITES.values():
            if "e" in model:
                delete(http, me, model, "e")
            if "a" not in model:
                create(http, me, model, "a", **BASELINE["a"])
            write(http, me, model)  # writes still work
            assert_stats(http, me, model.values())
        page = list_tasks(http, me)
        assert sorted(task["id"] for task in page["tasks"]) == sorted(task["id"] for task in model.values())
        assert_stats(http, other, theirs.values())
    finally:
        stack.start_program("redis")
        wait_healthy(http)
    assert_stats(http, me, model.values())  # not what was cached before the outage
    assert_stats(http, other, theirs.values())
    patch(http, me, model, "a", {"priority": "low", "tags": ["after"]})
    assert_stats(http, me, model.values())


@pytest.mark.parametrize(
    "write", ["create", "patch-complete", "bulk-complete", "delete", "add-tags", "remove-tag"]
)
def test_a_write_during_the_outage_shows_after_redis_returns(http, stack, write) -> None:
    """Redis keeps its data across the restart (append-only file): the value cached before the
    outage must not come back once a write made it stale."""
    account = new_account(http)
    model = baseline(http, account)
    assert_stats(http, account, model.values())
    assert_stats(http, account, model.values())  # surely cached by now
    stack.stop_program("redis")
    try:
        WRITES[write](http, account, model)
        assert_stats(http, account, model.values())
    finally:
        stack.start_program("redis")
        wait_healthy(http)
    assert_stats(http, account, model.values())
    assert_stats(http, account, model.values())
    create(http, account, model, "later", tags=["after"])  # invalidation works again
    assert_stats(http, account, model.values())


def test_a_cache_outage_is_logged(http, stack) -> None:
    account = new_account(http)
    model = baseline(http, account)
    log = stack.log_dir / "tasks.log"
    start = log.stat().st_size
    stack.stop_program("redis")
    try:
        assert_stats(http, account, model.values())
        create(http, account, model, "e", tags=["logged"])
        assert_stats(http, account, model.values())
    finally:
        stack.start_program("redis")
        wait_healthy(http)
    with log.open("rb") as handle:
        handle.seek(start)
        lines = handle.read().decode(errors="replace").splitlines()
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    warnings = [
        entry
        for entry in entries
        if entry.get("level") in {"WARNING", "ERROR", "CRITICAL"}
        and any(word in json.dumps(entry).lower() for word in ("redis", "cache"))
    ]
    assert warnings, f"no warning about the cache in tasks.log; logged: {lines[-20:]}"
