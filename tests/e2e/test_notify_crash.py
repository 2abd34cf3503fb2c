"""The notify service killed (SIGKILL) in the middle of a burst of triggering writes: once it is
back, every email owed exists exactly once and was written to the delivery log exactly once."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from typing import Any

import httpx

from support.accounts import Account
from support.events import TASK_EVENTS_STREAM, StreamReader
from support.notify import mail_log, notify_deliveries, notify_processed, notify_sql, verified_account
from support.polling import wait_until

TRIGGERS = ("task.shared", "comment.added", "task.completed")


def one_task(client: httpx.Client, owner: Account, friends: list[Account], accepted: Counter[int]) -> None:
    """Create a task, share it with each friend, comment on it, complete it (1 + 1 + 2 + 2 emails
    owed), counting in `accepted` the triggering writes the gateway accepted. Stops at the first
    step that fails."""
    created = client.post("/tasks", json={"title": "burst"}, headers=owner.headers)
    if created.status_code != 201:
        return
    task_id: int = created.json()["id"]
    accepted[task_id] += 0
    steps: list[tuple[str, str, Any]] = [
        *((f"/tasks/{task_id}/share", "POST", {"shared_with_username": f.username}) for f in friends),
        (f"/tasks/{task_id}/comments", "POST", {"content": "on it"}),
        (f"/tasks/{task_id}", "PATCH", {"completed": True}),
    ]
    for path, method, body in steps:
        if client.request(method, path, json=body, headers=owner.headers).status_code not in (200, 201):
            return
        accepted[task_id] += 1


def test_killing_notify_mid_burst_loses_no_email_and_sends_none_twice(http, stack) -> None:
    owner, friends = verified_account(http, stack), [verified_account(http, stack) for _ in range(2)]
    accepted: Counter[int] = Counter()  # task id -> triggering writes accepted
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
            while not stop.is_set():
                try:
                    one_task(client, owner, friends, accepted)
                except httpx.HTTPError:
                    continue

    writers = [threading.Thread(target=write) for _ in range(3)]
    for writer in writers:
        writer.start()
    try:
        killed_at = 0
        for _ in range(2):  # twice, each time while notify is busy with the burst
            mailed = len(mail_log(stack, friends[0].id))
            wait_until(lambda: len(mail_log(stack, friends[0].id)) >= mailed + 5, "notify at work", 30)  # noqa: B023
            pid = int(stack.ctl("pid", "notify").strip())
            os.kill(pid, signal.SIGKILL)
            killed_at = len(accepted)
            wait_until(
                lambda: int(stack.ctl("pid", "notify").strip() or 0) not in (0, pid),  # noqa: B023
                "notify restarted",
                30,
            )
            wait_until(lambda: len(accepted) >= killed_at + 10, "writes after the restart", 30)  # noqa: B023
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert killed_at > 0

    events = triggering_events(stack, accepted)
    expected = {(event.event_id, user_id) for event in events for user_id in owed(event)}
    notify_processed(stack, [event.event_id for event in events], timeout=60)

    def all_sent() -> list[dict[str, Any]]:
        rows = notify_deliveries(stack, [event.event_id for event in events])
        return rows if rows and all(row["status"] == "sent" for row in rows) else []

    rows = wait_until(all_sent, "every delivery sent", 60)
    pairs = Counter((str(row["event_id"]), row["user_id"]) for row in rows)
    assert set(pairs.values()) == {1}
    assert set(pairs) == expected
    whole_tasks = sum(1 for n in accepted.values() if n == 2 + len(friends))
    assert whole_tasks > killed_at
    assert len(rows) == len(expected) >= 6 * whole_tasks
    logged = Counter(
        row["delivery_id"]
        for row in notify_sql(
            stack,
            "SELECT delivery_id FROM mail_log WHERE delivery_id = ANY(%s)",
            ([row["id"] for row in rows],),
        )
    )
    assert logged == Counter({row["id"]: 1 for row in rows})
    print(
        f"notify killed twice mid-burst: {len(events)} triggering events, {len(rows)} emails owed, "
        "each queued, sent and logged once"
    )


def triggering_events(stack, accepted: Counter[int]) -> list[Any]:
    """The distinct triggering events of these tasks (the relay may publish one twice), once the
    stream holds one for every accepted write (a write cut off after its commit may add one)."""
    reader = StreamReader.of(stack.redis_url, TASK_EVENTS_STREAM)

    def settled() -> list[Any]:
        found = {
            entry.event_id: entry.envelope
            for entry in reader.read()
            if entry.type in TRIGGERS and entry.envelope.task_id in accepted
        }
        per_task = Counter(event.task_id for event in found.values())
        return list(found.values()) if all(per_task[t] >= n for t, n in accepted.items()) else []

    return wait_until(settled, "the burst's events in the stream", 30)


def owed(event: Any) -> set[int]:
    if event.type == "task.shared":
        return {event.task_shared.share.shared_with_user_id}
    return set(event.audience_user_ids) - {event.actor_user_id}
