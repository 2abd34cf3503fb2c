"""Events survive outages of the running system: Redis stopped while users write, and the tasks
service killed (SIGKILL) in the middle of a burst of writes."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import defaultdict

import httpx

from support.accounts import Account
from support.events import TASK_EVENTS_STREAM, StreamReader, task_events
from support.polling import wait_until
from support.tasks import create_task


def created_event_ids(stack, task_ids: set[int]) -> dict[int, set[str]]:
    """The distinct event ids of task.created per task, once every task has one. The same event
    may be in the stream twice (a relay killed between publish and mark): consumers drop repeats
    by event id, so what must be exactly one is the event, not the entry."""
    reader = StreamReader.of(stack.redis_url, TASK_EVENTS_STREAM)

    def found() -> dict[int, set[str]]:
        ids: dict[int, set[str]] = defaultdict(set)
        for entry in reader.read():
            event = entry.envelope
            if event.type == "task.created" and event.task_id in task_ids:
                ids[event.task_id].add(event.event_id)
        return ids

    return wait_until(
        found, "a task.created event of every task", 30, accept=lambda ids: set(ids) == task_ids
    )


def test_writes_succeed_while_redis_is_down_and_their_events_follow(stack, http, account: Account) -> None:
    stack.stop_program("redis")
    try:
        during = [create_task(http, account, title=f"written while Redis is down {n}") for n in range(5)]
        patched = http.patch(f"/tasks/{during[0]['id']}", json={"priority": "high"}, headers=account.headers)
        assert patched.status_code == 200, patched.text
    finally:
        stack.start_program("redis")

    ids = {task["id"] for task in during}
    assert {
        task_id: len(events) for task_id, events in created_event_ids(stack, ids).items()
    } == dict.fromkeys(ids, 1)
    updated = task_events(stack.redis_url, during[0]["id"], until=lambda events: len(events) == 2)
    assert [event.type for event in updated] == ["task.created", "task.updated"]


def test_killing_the_tasks_service_mid_burst_loses_no_accepted_write_and_no_event(
    stack, http, account: Account
) -> None:
    accepted: list[int] = []
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post("/tasks", json={"title": "burst"}, headers=account.headers)
                except httpx.HTTPError:
                    continue  # refused while the service is down: not accepted, nothing owed
                if response.status_code == 201:
                    accepted.append(response.json()["id"])

    writers = [threading.Thread(target=write) for _ in range(4)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(0.5)
        before_kill = len(accepted)
        pid = int(stack.ctl("pid", "tasks").strip())
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: int(stack.ctl("pid", "tasks").strip() or 0) not in (0, pid), "tasks to restart", 30
        )
        restarted = len(accepted)
        wait_until(
            lambda: len(accepted) >= restarted + 20, "the restarted tasks service to accept writes", 30
        )
    finally:
        stop.set()
        for writer in writers:
            writer.join()

    assert before_kill > 0
    stored = stored_task_ids(http, account)
    # Every accepted write is stored (one the kill cut off after its commit may be stored too)...
    assert set(accepted) <= stored
    # ...and every stored task has its one task.created event.
    events = created_event_ids(stack, stored)
    assert {task_id: len(found) for task_id, found in events.items()} == dict.fromkeys(stored, 1)


def stored_task_ids(http: httpx.Client, account: Account) -> set[int]:
    ids: set[int] = set()
    while True:
        page = http.get("/tasks", params={"limit": 100, "skip": len(ids)}, headers=account.headers)
        assert page.status_code == 200, page.text
        found = {task["id"] for task in page.json()["tasks"]}
        ids |= found
        if len(found) < 100:
            return ids
