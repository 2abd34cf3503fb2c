"""Read-your-writes on the event-fed audit log: after a 2xx for a write, the caller's next read of
/activity, /activity/tasks/{id} and /activity/stats shows it, on any connection and over native
gRPC; when it cannot be sure in time, the read still answers, marked possibly stale."""

from __future__ import annotations

import threading

import grpc
import httpx
import pytest

from support.accounts import Account, bearer_metadata, new_account
from support.polling import wait_until
from support.tasks import create_task
from taskmanager.activity.v1 import activity_pb2, activity_pb2_grpc

ROUNDS = 150
STALE = "x-possibly-stale"


def fresh(response: httpx.Response) -> httpx.Response:
    assert response.status_code == 200, response.text
    assert STALE not in response.headers, "the read gave up waiting for the caller's own write"
    assert response.headers["server-timing"].startswith("own-writes;dur=")
    return response


def test_each_write_shows_in_the_very_next_reads(stack, http: httpx.Client, account: Account) -> None:
    task = create_task(http, account, title="watched")
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as other:  # another connection
        for n in range(ROUNDS):
            before = fresh(other.get("/activity/stats", headers=account.headers)).json()["total_activities"]
            patched = http.patch(
                f"/tasks/{task['id']}", json={"title": f"title {n}"}, headers=account.headers
            )
            assert patched.status_code == 200
            reader = other if n % 2 else http
            [newest] = fresh(reader.get("/activity?limit=1", headers=account.headers)).json()
            assert (newest["action"], newest["resource_id"]) == ("updated", task["id"]), n
            assert f"title {n}" in str(newest["details"]), n
            timeline = fresh(reader.get(f"/activity/tasks/{task['id']}", headers=account.headers)).json()
            assert len(timeline) == n + 2, n  # created, then one update per round
            stats = fresh(reader.get("/activity/stats", headers=account.headers)).json()
            assert stats["total_activities"] == before + 1, n


def test_creates_and_deletes_show_at_once_too(http: httpx.Client, account: Account) -> None:
    for n in range(ROUNDS // 3):
        task = create_task(http, account, title=f"short-lived {n}")
        [created] = fresh(http.get("/activity?limit=1", headers=account.headers)).json()
        assert (created["action"], created["resource_id"]) == ("created", task["id"])
        assert http.delete(f"/tasks/{task['id']}", headers=account.headers).status_code == 204
        [deleted] = fresh(http.get("/activity?limit=1", headers=account.headers)).json()
        assert (deleted["action"], deleted["resource_id"]) == ("deleted", task["id"])


def test_over_native_grpc(gateway_channel: grpc.Channel, http: httpx.Client) -> None:
    account = new_account(http)
    task = create_task(http, account, title="grpc")
    stub = activity_pb2_grpc.ActivityServiceStub(gateway_channel)
    for n in range(ROUNDS // 3):
        http.patch(f"/tasks/{task['id']}", json={"priority": ["low", "high"][n % 2]}, headers=account.headers)
        reply, call = stub.ListActivity.with_call(
            activity_pb2.ListActivityRequest(limit=1), metadata=bearer_metadata(account), timeout=10
        )
        assert reply.entries[0].action == "updated" and reply.entries[0].resource_id == task["id"]
        assert STALE not in dict(call.trailing_metadata())


def test_without_redis_a_read_answers_at_once_marked_possibly_stale(
    stack, http: httpx.Client, gateway_channel: grpc.Channel
) -> None:
    account = new_account(http)
    task = create_task(http, account, title="before the outage")
    fresh(http.get("/activity?limit=1", headers=account.headers))
    stack.stop_program("redis")
    try:
        patched = http.patch(f"/tasks/{task['id']}", json={"title": "during"}, headers=account.headers)
        assert patched.status_code == 200  # writes need only Postgres
        response = http.get("/activity?limit=1", headers=account.headers)
        assert response.status_code == 200
        assert response.headers[STALE] == "true"
        assert response.json()[0]["action"] == "created"  # what is there: the update is not yet
        stub = activity_pb2_grpc.ActivityServiceStub(gateway_channel)
        _, call = stub.GetActivityStats.with_call(
            activity_pb2.GetActivityStatsRequest(), metadata=bearer_metadata(account), timeout=10
        )
        assert dict(call.trailing_metadata())[STALE] == "true"
    finally:
        stack.start_program("redis")
    # Redis is back: the relay and the consumer catch up, and reads are fresh again.
    newest = wait_until(
        lambda: http.get("/activity?limit=1", headers=account.headers),
        "a fresh read after redis came back",
        30,
        accept=lambda r: r.status_code == 200 and STALE not in r.headers,
        every=0.2,
    )
    assert newest.json()[0]["action"] == "updated"


@pytest.mark.parametrize("path", ["/activity", "/activity/stats"])
def test_a_user_with_no_writes_waits_for_nothing(http: httpx.Client, path: str) -> None:
    account = new_account(http)
    fresh(http.get(path, headers=account.headers))


def test_a_read_waits_for_the_writes_before_it_not_for_those_that_keep_coming(
    stack, http: httpx.Client, account: Account
) -> None:
    """The same user writes on four other connections all along: each read waits for the write
    that came before it, not for one newer still in the outbox each time it looks again."""
    stop = threading.Event()

    def write(n: int) -> None:
        with httpx.Client(base_url=stack.gateway_url, timeout=10) as writer:
            while not stop.is_set():
                writer.post("/tasks", json={"title": f"writer {n}"}, headers=account.headers)

    writers = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(4)]
    for thread in writers:
        thread.start()
    try:
        for n in range(ROUNDS // 5):
            task = create_task(http, account, title=f"mine {n}")
            timeline = fresh(http.get(f"/activity/tasks/{task['id']}", headers=account.headers)).json()
            assert [e["action"] for e in timeline] == ["created"], n
    finally:
        stop.set()
        for thread in writers:
            thread.join(15)
