"""What the chaos tests assert after a load: every accepted write is there, and every event was
applied once (activity has one audit entry per change, however often it was delivered)."""

from __future__ import annotations

from typing import Any

import httpx
from chaos.load import Load, WrittenTask

from support.polling import wait_until
from support.sql import service_sql

SETTLE_SECONDS = 90.0  # a crashed consumer's entries are claimed after 30 s idle (tm_common.consumer)


def assert_writes_kept(http: httpx.Client, load: Load) -> None:
    """Each accepted create is there, titled by its last accepted rename (or one tried after it)."""
    wrong = []
    for task in load.tasks:
        response = http.get(f"/tasks/{task.id}", headers=task.owner.headers)
        if response.status_code != 200 or response.json()["title"] not in task.possible_titles():
            wrong.append((task.id, response.status_code, response.text[:200], task.possible_titles()))
    assert not wrong, f"{len(wrong)} of {len(load.tasks)} accepted tasks are missing or wrong: {wrong[:5]}"


def _audit(stack: Any, load: Load) -> dict[tuple[int, str], int]:
    rows = service_sql(
        stack,
        "activity",
        "SELECT resource_id, action, count(*) AS n FROM entries "
        "WHERE resource_type = 'task' AND user_id = ANY(%s) GROUP BY resource_id, action",
        [[a.id for a in load.accounts]],
    )
    return {(r["resource_id"], r["action"]): r["n"] for r in rows}


def _mismatches(audit: dict[tuple[int, str], int], tasks: list[WrittenTask]) -> list[str]:
    wrong = []
    for task in tasks:
        created = audit.get((task.id, "created"), 0)
        updated = audit.get((task.id, "updated"), 0)
        accepted = sum(r.accepted for r in task.renames)
        if created != 1 or not accepted <= updated <= len(task.renames):
            wrong.append(
                f"task {task.id}: {created} created, {updated} updated "
                f"({accepted} renames accepted of {len(task.renames)})"
            )
    return wrong


def assert_events_applied_once(stack: Any, load: Load) -> None:
    """Activity has, for each accepted task, one `created` entry and one `updated` entry per
    applied rename (every accepted one, perhaps some whose outcome is unknown), and no more:
    waits for the consumers to catch up first."""
    tasks = list(load.tasks)
    wrong = wait_until(
        lambda: _mismatches(_audit(stack, load), tasks),
        "activity to have one entry per accepted write",
        timeout=SETTLE_SECONDS,
        accept=lambda found: not found,
        every=1.0,
    )
    assert not wrong
    duplicates = service_sql(
        stack,
        "activity",
        "SELECT event_id, count(*) AS n FROM entries WHERE user_id = ANY(%s) "
        "GROUP BY event_id HAVING count(*) > 1",
        [[a.id for a in load.accounts]],
    )
    assert duplicates == [], f"events applied more than once: {duplicates[:5]}"
