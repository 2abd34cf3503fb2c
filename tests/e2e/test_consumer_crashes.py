"""SIGKILL of the activity service in the middle of a burst of writes: after its restart every
event is applied exactly once (one audit entry per accepted write, none twice)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import httpx
import psycopg

from support.accounts import Account
from support.polling import wait_until
from tm_devstack.services import SERVICES


def kill_and_wait_for_restart(stack, program: str) -> None:
    pid = int(stack.ctl("pid", program).strip())
    os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: int(stack.ctl("pid", program).strip() or 0) not in (0, pid),
        f"{program} to be restarted",
        30,
        every=0.1,
    )


def burst_of_creates(stack, account: Account, during: Callable[[], None]) -> list[int]:
    """Creates tasks from 4 threads while `during()` runs; the ids of the accepted creates."""
    accepted: list[int] = []
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
            while not stop.is_set():
                response = client.post("/tasks", json={"title": "burst"}, headers=account.headers)
                assert response.status_code == 201, response.text  # tasks stays up throughout
                accepted.append(response.json()["id"])

    writers = [threading.Thread(target=write) for _ in range(4)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(0.5)
        during()
        time.sleep(1.0)  # writes go on after the restart too
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    return accepted


def created_entries(stack, user_id: int) -> dict[int, int]:
    """How many `created task` audit entries each of the user's tasks has."""
    spec = next(s for s in SERVICES if s.name == "activity")
    with psycopg.connect(stack.service_database_url(spec, driver="postgresql")) as conn:
        rows = conn.execute(
            "SELECT resource_id, count(*) FROM entries WHERE user_id = %s AND action = 'created' "
            "AND resource_type = 'task' GROUP BY resource_id",
            (user_id,),
        ).fetchall()
    return dict(rows)


def test_activity_killed_mid_burst_applies_every_event_exactly_once(stack, http, account: Account) -> None:
    accepted = burst_of_creates(stack, account, lambda: kill_and_wait_for_restart(stack, "activity"))
    assert len(accepted) == len(set(accepted)) > 50

    found = wait_until(
        lambda: created_entries(stack, account.id),
        f"all {len(accepted)} writes to reach the audit log",
        60,
        accept=lambda entries: set(entries) == set(accepted),
        every=0.2,
    )
    assert found == dict.fromkeys(accepted, 1)  # none lost, none twice
    print(f"activity killed mid-burst: {len(accepted)} accepted writes, {len(found)} entries, each once")
    stats = http.get("/activity/stats", headers=account.headers).json()
    assert stats["total_activities"] == len(accepted)
    assert stats["by_action"] == {"created": len(accepted)}
